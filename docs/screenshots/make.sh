#!/usr/bin/env bash
# Regenerates the README's and the tour's screenshots from the sample images, in
# the Fusion style with a light and a dark palette. Runs under Xvfb when it is
# installed (real fonts and X11 rendering), offscreen otherwise.
# Run from the project root after `make setup`: bash docs/screenshots/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
gui=.venv/bin/diskscope-gui
out=docs/screenshots
run() {
    if command -v xvfb-run >/dev/null; then
        QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" "$gui" "$@"
    else
        QT_QPA_PLATFORM=offscreen "$gui" "$@"
    fi
}
# The appliance and the signed, compressed image are made here, each run: an OVA of one
# streamOptimized VMDK, and a qcow2.xz beside a SHA256SUMS signed by a throw-away gpg key
# (the window reads the keyring from a private config folder).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/appliance" "$work/signed" "$work/config/Diskscope"
qemu-img create -q -f qcow2 "$work/disk.qcow2" 1G
qemu-img convert -O vmdk -o subformat=streamOptimized "$work/disk.qcow2" "$work/appliance/web01-disk1.vmdk"
cat >"$work/appliance/web01.ovf" <<'OVF'
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="file1" ovf:href="web01-disk1.vmdk"/></References>
  <DiskSection><Info>Virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1073741824"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="web01"><Info>A web server</Info><Name>web01</Name>
    <VirtualHardwareSection><Info>Virtual hardware</Info>
      <Item><rasd:ElementName>2 virtual CPUs</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>2048 MB</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:ElementName>disk0</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection></VirtualSystem>
</Envelope>
OVF
tar -C "$work/appliance" -cf "$work/web01.ova" web01.ovf web01-disk1.vmdk
cp "$work/disk.qcow2" "$work/signed/debian-12.qcow2"
xz "$work/signed/debian-12.qcow2"
(cd "$work/signed" && sha256sum debian-12.qcow2.xz >SHA256SUMS)
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key 'Example Images <images@example.org>' ed25519 sign never
gpg -q --batch --yes --detach-sign -o "$work/signed/SHA256SUMS.gpg" "$work/signed/SHA256SUMS"
gpg -q --export >"$work/keys.gpg"
printf '[checksums]\nkeyring=%s\n' "$work/keys.gpg" >"$work/config/Diskscope/Diskscope.conf"
for theme in light dark; do
    suffix=$([ "$theme" = dark ] && echo "-dark" || true)
    run --theme "$theme" --screenshot "$out/overview$suffix.png" --select snapshots.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/refused$suffix.png" --select refused-backing.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/snapshots$suffix.png" --select snapshots.qcow2 --tab snapshots
    run --theme "$theme" --screenshot "$out/overlay$suffix.png" --select chain-overlay.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/chain$suffix.png" --select chain-overlay.qcow2 --tab chain
    run --theme "$theme" --screenshot "$out/allocation$suffix.png" --select snapshots.qcow2 --tab allocation
    run --theme "$theme" --screenshot "$out/raw$suffix.png" --select snapshots.qcow2 --tab raw
    run --theme "$theme" --screenshot "$out/appliance$suffix.png" "$work/web01.ova"
    XDG_CONFIG_HOME="$work/config" run --theme "$theme" --screenshot "$out/signed-packed$suffix.png" \
        --select debian-12.qcow2.xz "$work/signed"
done
echo "screenshots written to $out"
