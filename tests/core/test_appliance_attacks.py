"""Hostile appliances: each crafted here, byte by byte where the attack is in the tar, and
each refused with one sentence (exit 1), with nothing extracted and no qemu-img run."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.appliance.appliance import inspect_appliance
from diskscope.core.cli import ExitCode
from diskscope.core.errors import ApplianceProblem, UnsafeAppliance
from ovakit import (
    Disk,
    WatchedQemuImg,
    appliance_folder,
    files_in,
    manifest,
    ovf_text,
    regular,
    stream_vmdk,
    tar_bytes,
)

P = ApplianceProblem
BILLION_LAUGHS = """<!DOCTYPE Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>"""
XXE = '<!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    stream_vmdk(src, "disk1.vmdk", "16M")
    return src


def _ova(tmp_path: Path, ovf: str, *more: tuple[bytes, bytes, bytes, bytes], disk: bool = True) -> Path:
    """An OVA written byte by byte: the descriptor, then the disk (unless told not to), then `more`."""
    src = tmp_path / "src"
    members = [regular("vm.ovf", ovf.encode())]
    if disk:
        members.append(regular("disk1.vmdk", (src / "disk1.vmdk").read_bytes()))
    path = tmp_path / "vm.ova"
    path.write_bytes(tar_bytes([*members, *more]))
    return path


def _plain_ovf(src: Path, **kw: str) -> str:
    return ovf_text(src, [Disk("disk1.vmdk", 16 << 20)], **kw)


def _with_href(href: str) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        return _ova(tmp_path, _plain_ovf(src).replace('ovf:href="disk1.vmdk"', f'ovf:href="{href}"'))

    return build


def _member(
    name: bytes, typeflag: bytes = b"0", linkname: bytes = b"", data: bytes = b"x"
) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        return _ova(tmp_path, _plain_ovf(src), (name, data, typeflag, linkname))

    return build


def _truncated(tmp_path: Path) -> Path:
    path = _ova(tmp_path, _plain_ovf(_src(tmp_path)))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1024 - 64 * 1024)  # the end blocks and the disk's last 64 KiB
    return path


def _pax_record(key: str, value: str) -> bytes:
    """One well-formed pax record: its length counts its own digits."""
    body = f" {key}={value}\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return f"{length}{body}".encode()


def _extended(typeflag: bytes, data: bytes) -> Callable[[Path], Path]:
    """A well-formed extended header (pax or GNU long name) of `data`, before a plain member:
    tarfile would read it all into memory and accept the archive."""

    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        return _ova(
            tmp_path, _plain_ovf(src), (b"././@LongLink", data, typeflag, b""), regular("notes.txt", b"x")
        )

    return build


def _pax_sparse(version: str) -> Callable[[Path], Path]:
    """A member that GNU tar stores sparse, in pax form: its header says a regular file, but
    its size is the expanded one, so its bytes as listed would run into the next member."""
    records = {
        "0.0": _pax_record("GNU.sparse.offset", "0") + _pax_record("GNU.sparse.numbytes", "512"),
        "0.1": _pax_record("GNU.sparse.map", "0,512"),
        "1.0": _pax_record("GNU.sparse.major", "1") + _pax_record("GNU.sparse.minor", "0")
        + _pax_record("GNU.sparse.name", "notes.txt"),
    }[version]  # fmt: skip
    size = "GNU.sparse.realsize" if version == "1.0" else "GNU.sparse.size"
    sparse_map = b"1\n0\n512\n".ljust(512, b"\0") if version == "1.0" else b""

    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        header = (b"././@PaxHeader", records + _pax_record(size, "4096"), b"x", b"")
        notes = regular("notes.txt", sparse_map + b"A" * 512)
        return _ova(tmp_path, _plain_ovf(src), header, notes, regular("after.txt", b"B" * 4096))

    return build


def _negative_size(tmp_path: Path) -> Path:
    """The disk's size field in base-256 with its sign bit set: tarfile reads -1, and takes
    the member's own bytes for the next header."""
    ovf = re.sub(r' ovf:size="\d+"', "", _plain_ovf(_src(tmp_path)))  # the attribute is optional
    ova = _ova(tmp_path, ovf)
    data = bytearray(ova.read_bytes())
    header = data.index(b"disk1.vmdk\0")
    data[header + 124 : header + 136] = b"\xff" * 12
    data[header + 148 : header + 156] = b" " * 8
    data[header + 148 : header + 156] = f"{sum(data[header : header + 512]):06o}\0 ".encode()
    ova.write_bytes(bytes(data))
    return ova


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "vm.ova"
    path.write_bytes(data)
    return path


def _xml(doctype: str = "", body: Callable[[str], str] = lambda t: t) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        text = body(_plain_ovf(src, doctype=doctype))
        return _ova(tmp_path, text)

    return build


def _size_lies(tmp_path: Path) -> Path:
    src = _src(tmp_path)
    real = (src / "disk1.vmdk").stat().st_size
    return _ova(tmp_path, ovf_text(src, [Disk("disk1.vmdk", 16 << 20, size=real + 512)]))


def _manifest(edit: Callable[[str], str], extra: bool = False) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        src = _src(tmp_path)
        (src / "vm.ovf").write_text(_plain_ovf(src))
        mf = edit(manifest(src, ["vm.ovf", "disk1.vmdk"]))
        more = [regular("vm.mf", mf.encode())]
        if extra:
            more.append(regular("notes.txt", b"slipped in\n"))
        return _ova(tmp_path, (src / "vm.ovf").read_text(), *more)

    return build


def _flip_digest(text: str) -> str:
    line = text.splitlines()[1]
    flipped = line[:-1] + ("0" if line[-1] != "0" else "1")
    return text.replace(line, flipped)


CASES: dict[str, tuple[Callable[[Path], Path], ApplianceProblem]] = {
    "member name with ..": (_member(b"../../etc/cron.d/evil"), P.MEMBER_NAME),
    "absolute member name": (_member(b"/etc/cron.d/evil"), P.MEMBER_NAME),
    "symbolic link member": (_member(b"disk2.vmdk", b"2", b"/etc/shadow", b""), P.MEMBER_TYPE),
    "hard link member": (_member(b"disk2.vmdk", b"1", b"vm.ovf", b""), P.MEMBER_TYPE),
    "character device member": (_member(b"disk2.vmdk", b"3", b"", b""), P.MEMBER_TYPE),
    "block device member": (_member(b"disk2.vmdk", b"4", b"", b""), P.MEMBER_TYPE),
    "duplicate member": (_member(b"disk1.vmdk", data=b"\0" * 512), P.DUPLICATE_MEMBER),
    "duplicate via ./": (_member(b"./disk1.vmdk", data=b"\0" * 512), P.DUPLICATE_MEMBER),
    "pax sparse member 0.0": (_pax_sparse("0.0"), P.MEMBER_TYPE),
    "pax sparse member 0.1": (_pax_sparse("0.1"), P.MEMBER_TYPE),
    "pax sparse member 1.0": (_pax_sparse("1.0"), P.MEMBER_TYPE),
    "negative base-256 size": (_negative_size, P.BAD_TAR),
    "truncated archive": (_truncated, P.TRUNCATED),
    "pax header of 1 MiB": (_extended(b"x", _pax_record("comment", "a" * (1 << 20))), P.BAD_TAR),
    "GNU long name of 1 MiB": (_extended(b"L", b"a" * (1 << 20) + b"\0"), P.BAD_TAR),
    "not a tar at all": (lambda tmp_path: _bytes(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(4096)), P.BAD_TAR),
    "href is a URL": (_with_href("http://attacker.example/disk1.vmdk"), P.BAD_HREF),
    "href is a file URL": (_with_href("file:///etc/shadow"), P.BAD_HREF),
    "href is absolute": (_with_href("/etc/shadow"), P.BAD_HREF),
    "href climbs out": (_with_href("../disk1.vmdk"), P.BAD_HREF),
    "href names no member": (_with_href("disk9.vmdk"), P.MISSING_FILE),
    "malformed XML": (_xml(body=lambda t: t.replace("</Envelope>", "")), P.MALFORMED_XML),
    "billion laughs": (
        _xml(BILLION_LAUGHS, lambda t: t.replace("<Name>web01", "<Name>&d;")),
        P.FORBIDDEN_XML,
    ),
    "external entity": (_xml(XXE, lambda t: t.replace("<Name>web01", "<Name>&x;")), P.FORBIDDEN_XML),
    "DTD without entities": (_xml("<!DOCTYPE Envelope>"), P.FORBIDDEN_XML),
    "not an OVF": (_xml(body=lambda t: "<html><body/></html>"), P.DESCRIPTOR),
    "ovf:size disagrees with tar": (_size_lies, P.SIZE_MISMATCH),
    "manifest digest mismatch": (_manifest(_flip_digest), P.MANIFEST_MISMATCH),
    "manifest lists a missing file": (
        _manifest(lambda t: t + "SHA256(disk2.vmdk)= " + "0" * 64 + "\n"),
        P.MANIFEST_MISSING,
    ),
    "file the manifest leaves out": (_manifest(lambda t: t, extra=True), P.MANIFEST_EXTRA),
    "manifest line garbled": (_manifest(lambda t: t + "MD5(vm.ovf)= abc\n"), P.MANIFEST_MALFORMED),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_ova_is_refused_in_one_sentence_and_nothing_is_extracted(case: str, tmp_path: Path) -> None:
    build, problem = CASES[case]
    ova = build(tmp_path)
    before = files_in(tmp_path)
    qemu = WatchedQemuImg()
    with pytest.raises(UnsafeAppliance) as caught:
        inspect_appliance(ova, qemu)
    assert caught.value.problem == problem
    assert qemu.ran == []  # refused before qemu-img opened anything
    ran = run("info", ova)
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert ran.stdout == ""
    assert files_in(tmp_path) == before


def test_the_billion_laughs_never_expands(tmp_path: Path) -> None:
    """The refusal comes from the DTD, not from a size limit after expanding 10^4 copies."""
    ova = CASES["billion laughs"][0](tmp_path)
    with pytest.raises(UnsafeAppliance) as caught:
        inspect_appliance(ova, WatchedQemuImg())
    assert "DTD or entities" in str(caught.value)


def test_a_loose_ovf_disk_that_links_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    ovf, _ = appliance_folder(tmp_path / "vm", with_manifest=False)
    outside = tmp_path / "elsewhere.vmdk"
    (tmp_path / "vm" / "disk1.vmdk").rename(outside)
    (tmp_path / "vm" / "disk1.vmdk").symlink_to(outside)
    qemu = WatchedQemuImg()
    with pytest.raises(UnsafeAppliance) as caught:
        inspect_appliance(ovf, qemu)
    assert caught.value.problem == P.BAD_HREF and qemu.ran == []


def test_a_loose_ovf_with_a_missing_disk_says_which(tmp_path: Path) -> None:
    ovf, _ = appliance_folder(tmp_path / "vm", with_manifest=False)
    (tmp_path / "vm" / "disk1.vmdk").unlink()
    ran = run("info", ovf)
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert "'disk1.vmdk'" in ran.stderr
