"""The rows of the suite: each says how its data was made and what it is compared with."""

from __future__ import annotations

import hashlib
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data import MiB, many_small_qcow2, qcow2_from, sparse_raw
from benchmarks.fileserver import FileServer
from benchmarks.harness import Row, pair, run_command

BIN = Path(sys.executable).parent
DISKSCOPE = str(BIN / "diskscope")
GUI = str(BIN / "diskscope-gui")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sizes:
    virtual: int
    data: int
    download: int
    folder: int
    memory_download: int
    rounds: int

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if quick:
            return cls(256 * MiB, 64 * MiB, 64 * MiB, 40, 128 * MiB, 2)
        return cls(4096 * MiB, 1024 * MiB, 1536 * MiB, 500, 2048 * MiB, 5)


def _unlink(*paths: Path) -> None:
    for path in paths:
        for candidate in (path, path.with_name(path.name + ".part")):
            if candidate.exists():
                candidate.unlink()


def _usage(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def convert_rows(work: Path, sizes: Sizes) -> list[Row]:
    from diskscope.core.convert.plan import plan_conversion
    from diskscope.core.convert.request import ConvertRequest
    from diskscope.core.qemu.qemu_img import QemuImg

    raw = sparse_raw(work / "source.raw", sizes.virtual, sizes.data)
    qcow2 = qcow2_from(raw, work / "source.qcow2")
    out = work / "out.raw"
    made = (
        f"qcow2 of {sizes.virtual // MiB} MiB virtual with {sizes.data // MiB} MiB of random data in 8 places"
    )
    qemu = QemuImg()
    plan = plan_conversion(ConvertRequest(qcow2, out, "raw"), qemu)
    bare = qemu.command(qemu.convert_args(plan.spec))
    bare[-1] = str(out)  # the same flags, straight to the destination
    ours = [DISKSCOPE, "convert", str(qcow2), str(out), "-O", "raw", "-q"]
    reset = lambda: _unlink(out)  # noqa: E731
    rows = []
    row = Row("convert overhead", "diskscope convert --no-verify", shlex.join(["qemu-img", *bare[1:]]),
              "<= 1.03", made)  # fmt: skip
    rows.append(pair(row, lambda: run_command([*ours, "--no-verify"]), lambda: run_command(bare),
                     sizes.rounds, reset))  # fmt: skip
    naive = ["qemu-img", "convert", "-O", "raw", str(qcow2), str(out)]
    usage: dict[str, int] = {}

    def measured(argv: list[str], key: str) -> float:
        elapsed = run_command(argv)
        usage[key] = _usage(out)
        return elapsed

    row = Row("convert defaults", "diskscope convert -O raw (verifies with qemu-img compare)",
              shlex.join(naive), "<= 1.00, output as sparse", made)  # fmt: skip
    rows.append(pair(row, lambda: measured(ours, "a"), lambda: measured(naive, "b"), sizes.rounds, reset))
    row.note = f"on disk: ours {usage['a'] // MiB} MiB, naive {usage['b'] // MiB} MiB"
    row = Row("convert defaults, no compare", "diskscope convert -O raw --no-verify", shlex.join(naive),
              "<= 1.00", made)  # fmt: skip
    rows.append(pair(row, lambda: run_command([*ours, "--no-verify"]), lambda: run_command(naive),
                     sizes.rounds, reset))  # fmt: skip
    row = Row("convert to raw vs the disk's limit", "diskscope convert --no-verify",
              "cp --sparse=always of a raw file with the same data", "report", made)  # fmt: skip
    cp = ["cp", "--sparse=always", str(raw), str(out)]
    rows.append(pair(row, lambda: run_command([*ours, "--no-verify"]), lambda: run_command(cp),
                     sizes.rounds, reset))  # fmt: skip
    return rows


_OVF = """<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
 <References><File ovf:id="f1" ovf:href="disk1.vmdk" ovf:size="{size}"/></References>
 <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="{capacity}"
  ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
 <VirtualSystem ovf:id="vm"><Name>vm</Name></VirtualSystem>
</Envelope>
"""


def appliance_rows(work: Path, sizes: Sizes) -> list[Row]:
    """An OVA converted in place from its tar member, against unpacking it first."""
    raw = sparse_raw(work / "disk.raw", sizes.virtual, sizes.data)
    vmdk = work / "disk1.vmdk"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
                    str(raw), str(vmdk)], check=True)  # fmt: skip
    raw.unlink()
    (work / "vm.ovf").write_text(_OVF.format(size=vmdk.stat().st_size, capacity=sizes.virtual))
    ova = work / "vm.ova"
    subprocess.run(
        ["tar", "--format=ustar", "-cf", str(ova), "-C", str(work), "vm.ovf", "disk1.vmdk"], check=True
    )
    vmdk.unlink()
    out, unpacked = work / "out", work / "unpacked"
    out.mkdir()
    unpacked.mkdir()
    result = out / "disk1.qcow2"
    ours = [DISKSCOPE, "convert", str(ova), str(out), "-O", "qcow2", "-q", "--no-verify"]
    shell = [f"tar -xf {ova} -C {unpacked} disk1.vmdk && qemu-img convert -f vmdk -O qcow2 "
             f"{unpacked}/disk1.vmdk {result} && rm {unpacked}/disk1.vmdk"]  # fmt: skip
    made = (f"OVA (ustar) with one streamOptimized VMDK of {sizes.virtual // MiB} MiB virtual, "
            f"{sizes.data // MiB} MiB of random data; {ova.stat().st_size // MiB} MiB archive")  # fmt: skip
    row = Row("OVA convert", "diskscope convert vm.ova DIR -O qcow2 (in place, no copy)",
              "tar -x, then qemu-img convert", "< 1.00", made)  # fmt: skip
    rows = [pair(row, lambda: run_command(ours), lambda: run_command(shell, shell=True), sizes.rounds,
                 lambda: _unlink(result))]  # fmt: skip
    # The same qemu-img flags as ours (cache modes, coroutines), reading the unpacked copy:
    # what reading in place saves, apart from the flags Diskscope picks.
    from diskscope.core.appliance.appliance import inspect_appliance
    from diskscope.core.appliance.convert import plan_appliance
    from diskscope.core.convert.request import ConvertRequest
    from diskscope.core.qemu.commands import image_reference
    from diskscope.core.qemu.qemu_img import QemuImg

    qemu = QemuImg()
    (plan,) = plan_appliance(inspect_appliance(ova, qemu), ConvertRequest(ova, out, "qcow2"), qemu)
    same = qemu.command(qemu.convert_args(plan.plan.spec))
    same[-2:] = [image_reference(unpacked / "disk1.vmdk", "vmdk"), str(result)]
    shell = [f"tar -xf {ova} -C {unpacked} disk1.vmdk && {shlex.join(same)} && rm {unpacked}/disk1.vmdk"]
    row = Row("OVA convert, same flags", "diskscope convert vm.ova DIR -O qcow2",
              "tar -x, then qemu-img convert with our flags", "< 1.00", made)  # fmt: skip
    rows.append(pair(row, lambda: run_command(ours), lambda: run_command(shell, shell=True), sizes.rounds,
                     lambda: _unlink(result)))  # fmt: skip
    return rows


def download_rows(work: Path, sizes: Sizes) -> list[Row]:
    served = work / "served"
    served.mkdir(exist_ok=True)
    image = sparse_raw(served / "image.raw", sizes.download, sizes.download, pieces=1)
    sha512 = hashlib.sha512(image.read_bytes()).hexdigest()
    raw = sparse_raw(work / "q.raw", sizes.virtual, sizes.data)
    qcow2 = qcow2_from(raw, served / "cloud.qcow2")
    raw.unlink()
    qcow2_sha512 = hashlib.sha512(qcow2.read_bytes()).hexdigest()
    dest = work / "dest"
    dest.mkdir(exist_ok=True)
    got = dest / "image.raw"
    rows = []
    with FileServer(served) as server:
        url = server.url("image.raw")
        ours = [DISKSCOPE, "fetch", url, str(got), "--keep-format", "--checksum", f"sha512:{sha512}", "-q"]
        curl = ["curl", "-sf", "-o", str(got), url]
        reset = lambda: _unlink(got)  # noqa: E731
        made = f"{sizes.download // MiB} MiB of random data over loopback (sendfile server)"
        row = Row("download", "diskscope fetch (sha512 in the same pass)", "curl -o, then sha512sum",
                  "< 1.00", made)  # fmt: skip
        two_pass = [f"curl -sf -o {shlex.quote(str(got))} {url} && sha512sum {shlex.quote(str(got))}"]
        rows.append(pair(row, lambda: run_command(ours), lambda: run_command(two_pass, shell=True),
                         sizes.rounds, reset))  # fmt: skip
        row = Row("download raw speed", "diskscope fetch (sha512)", "curl -o", "<= 1.10", made)
        rows.append(pair(row, lambda: run_command(ours), lambda: run_command(curl), sizes.rounds, reset))

        out = dest / "cloud.raw"
        qurl = server.url("cloud.qcow2")
        ours_raw = [
            DISKSCOPE,
            "fetch",
            qurl,
            str(out),
            "--to-raw",
            "--checksum",
            f"sha512:{qcow2_sha512}",
            "-q",
        ]
        tmp = dest / "cloud.qcow2"
        shell = [f"curl -sf -o {tmp} {qurl} && qemu-img info {tmp} >/dev/null && "
                 f"qemu-img convert -O raw {tmp} {out} && rm {tmp}"]  # fmt: skip
        row = Row("fetch to raw", "diskscope fetch --to-raw", "curl + qemu-img info + qemu-img convert",
                  "<= 1.05", f"qcow2 of {sizes.virtual // MiB} MiB virtual, {sizes.data // MiB} MiB data")  # fmt: skip
        rows.append(pair(row, lambda: run_command(ours_raw), lambda: run_command(shell, shell=True),
                         sizes.rounds, lambda: _unlink(out, tmp)))  # fmt: skip
    return rows


def upload_rows(work: Path, sizes: Sizes) -> list[Row]:
    """`glance upload` against a real Glance on 127.0.0.1 (tests/glance/server.py; its venv
    from DISKSCOPE_GLANCE_VENV or .cache/glance-venv), compared with `curl -T` of the same
    file into a record created just before, as openstackclient users script it."""
    import requests

    sys.path.insert(0, str(HERE.parent / "tests" / "glance"))
    import server as glance_server  # type: ignore[import-not-found]

    venv = Path(os.environ.get("DISKSCOPE_GLANCE_VENV", HERE.parent / ".cache" / "glance-venv"))
    glance_server.install(venv)
    token = "bench-glance-token"
    state = work / "glance"
    image = sparse_raw(work / "upload.raw", sizes.download, sizes.download, pieces=1)
    glance = glance_server.start(venv, state, token)
    headers = {"X-Auth-Token": token}
    os.environ["OS_AUTH_TOKEN"] = token  # for the diskscope child processes

    def reset() -> None:  # the store keeps each upload: delete them between rounds
        for found in requests.get(f"{glance.endpoint}/v2/images", headers=headers, timeout=60).json()[
            "images"
        ]:
            requests.delete(f"{glance.endpoint}/v2/images/{found['id']}", headers=headers, timeout=60)

    def curl() -> float:
        started = time.perf_counter()
        created = requests.post(f"{glance.endpoint}/v2/images", headers=headers, timeout=60,
                                json={"name": "bench", "disk_format": "raw", "container_format": "bare"})  # fmt: skip
        target = f"{glance.endpoint}/v2/images/{created.json()['id']}/file"
        run_command(["curl", "-sf", "-T", str(image), "-H", f"X-Auth-Token: {token}",
                     "-H", "Content-Type: application/octet-stream", target])  # fmt: skip
        return time.perf_counter() - started

    made = f"{sizes.download // MiB} MiB of random data, raw, to Glance 33 (file store) on loopback"
    rows = []
    try:
        for method in ("put", "glance-direct"):
            ours = [DISKSCOPE, "glance", "upload", str(image), "--endpoint", glance.endpoint, "--name", "bench",
                    "--method", method, "-q"]  # fmt: skip
            label = f"diskscope glance upload --method {method} (gate, sha512, checks)"
            row = Row(f"upload ({method})", label, "POST + curl -T (no hash, no check)",
                      "<= 1.15" if method == "put" else "report", made)  # fmt: skip
            rows.append(pair(row, lambda argv=ours: run_command(argv), curl, max(2, sizes.rounds - 2), reset))
    finally:
        glance.stop()
        os.environ.pop("OS_AUTH_TOKEN", None)
    return rows


def inspect_rows(work: Path, sizes: Sizes) -> list[Row]:
    folder = work / "folder"
    paths = many_small_qcow2(folder, sizes.folder)
    one = str(paths[0])
    rows = []
    row = Row("inspect one", "diskscope info --json", "qemu-img info --output=json", "report",
              "one empty 1 GiB qcow2")  # fmt: skip
    rows.append(pair(row, lambda: run_command([DISKSCOPE, "info", "--json", one]),
                     lambda: run_command(["qemu-img", "info", "--output=json", one]), sizes.rounds * 2))  # fmt: skip
    loop = [f'for f in {folder}/*; do qemu-img info --output=json "$f" >/dev/null; done']
    row = Row(f"inspect a folder of {len(paths)} images", "diskscope info --json DIR/*",
              "a shell loop of qemu-img info", "< 1.00 (parallel)",
              f"{len(paths)} empty 1 GiB qcow2 files")  # fmt: skip
    rows.append(pair(row, lambda: run_command([DISKSCOPE, "info", "--json", *map(str, paths)]),
                     lambda: run_command(loop, shell=True), sizes.rounds))  # fmt: skip

    from diskscope.core.inspect.inspector import inspect_file
    from oslo_utils.imageutils import format_inspector

    def ours() -> float:
        started = time.perf_counter()
        for p in paths:
            inspect_file(p)
        return time.perf_counter() - started

    def oslo() -> float:
        started = time.perf_counter()
        for p in paths:
            format_inspector.detect_file_format(str(p)).safety_check()  # type: ignore[union-attr]
        return time.perf_counter() - started

    row = Row(f"inspector alone, {len(paths)} headers", "our inspector (in process)",
              "oslo.utils detect_file_format + safety_check", "report", f"{len(paths)} qcow2 files")  # fmt: skip
    rows.append(pair(row, ours, oslo, sizes.rounds))
    return rows


def memory_row(work: Path, sizes: Sizes) -> Row:
    served = work / "big"
    served.mkdir(exist_ok=True)
    image = sparse_raw(served / "big.raw", sizes.memory_download, sizes.memory_download, pieces=1)
    digest = hashlib.sha256()
    with open(image, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    out = work / "big-out.raw"
    row = Row("peak memory, download", "diskscope fetch", None, "flat, < 150 MB RSS",
              f"{sizes.memory_download // MiB} MiB download", unit="MB")  # fmt: skip
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    with FileServer(served) as server:
        for _ in range(max(1, sizes.rounds // 2)):
            done = subprocess.run(
                [sys.executable, "-c", probe, DISKSCOPE, "fetch", server.url("big.raw"), str(out),
                 "--keep-format", "--checksum", f"sha256:{digest.hexdigest()}", "-q"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row.a.append(int(done.stdout.strip().splitlines()[-1]) / 1024)
            _unlink(out)
    return row


def gui_rows(work: Path, sizes: Sizes) -> list[Row]:
    image = work / "window.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1G"], check=True)
    shot = work / "window.png"
    env_cmd = [GUI, "--screenshot", str(shot), str(image)]
    start = Row("window start", "diskscope-gui --screenshot with one image (offscreen)", None, "report",
                "one empty qcow2; time to a rendered PNG")  # fmt: skip
    for _ in range(sizes.rounds):
        start.a.append(run_command(env_cmd))
    rows = [start]
    for script, name, target, made in (
        ("ui_stall.py", "UI responsiveness", "< 50 ms",
         "longest gap of a 10 ms timer while a convert and a download run"),
        ("snapshot_table.py", "snapshot table", "report", "10 000 snapshots: parse, load the model, sort by size"),
    ):  # fmt: skip
        row = Row(name, "the window (offscreen)", None, target, made, unit="ms")
        for _ in range(max(1, sizes.rounds // 2 + 1)):
            done = subprocess.run([sys.executable, str(HERE / script), str(work), str(sizes.data)],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
            row.a.append(float(done.stdout.strip().splitlines()[-1]))
        rows.append(row)
    return rows


def median_or_none(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None
