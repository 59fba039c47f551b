"""Published checksum files and their GPG signatures, verified with the real gpgv against
keys made in the test: Ubuntu's SHA256SUMS + .gpg, Debian's SHA512SUMS + .sign, Fedora's
clearsigned BSD-style CHECKSUM; tampering refused."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.errors import SignatureInvalid
from diskscope.core.fetch.sums import find_sums
from gpgkit import Signer, make_signer
from imagekit import create


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("gpg") / "home")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("gpg") / "home", "Someone Else <else@example.org>")


def image_with_sums(folder: Path, name: str = "SHA256SUMS", algorithm: str = "sha256") -> tuple[Path, Path]:
    image = create(folder / "disk.qcow2", "qcow2", "4M")
    digest = hashlib.new(algorithm, image.read_bytes()).hexdigest()
    sums = folder / name
    sums.write_text(f"{'0' * len(digest)}  other.img\n{digest} *disk.qcow2\n")
    return image, sums


def test_ubuntu_style_detached_signature_is_verified(signer: Signer, tmp_path: Path) -> None:
    image, sums = image_with_sums(tmp_path)
    signer.detach_sign(sums)
    keyring = signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg")
    done = run("info", "--keyring", keyring, image)
    assert done.returncode == 0, done.stderr
    assert f"sha256 matches SHA256SUMS (signed by {signer.uid} (key {signer.fingerprint()}))" in done.stdout


def test_without_a_keyring_the_signature_is_said_to_be_unchecked(signer: Signer, tmp_path: Path) -> None:
    image, sums = image_with_sums(tmp_path)
    signer.detach_sign(sums)
    done = run("info", image)
    assert done.returncode == 0, done.stderr
    assert "sha256 matches SHA256SUMS (signature not checked: no keyring given (--keyring))" in done.stdout


def test_a_sums_file_changed_after_signing_is_refused(signer: Signer, tmp_path: Path) -> None:
    image, sums = image_with_sums(tmp_path)
    signer.detach_sign(sums)
    sums.write_text(sums.read_text().replace("other.img", "other.iso"))  # the image's line is intact
    keyring = signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg")
    done = run("info", "--keyring", keyring, image)
    assert done.returncode == 1
    assert "The checksum file's signature was refused: it is bad" in done.stderr
    assert "Checksum:" not in done.stdout
    with pytest.raises(SignatureInvalid):
        find_sums(image, keyring)


def test_a_signature_by_a_key_not_in_the_keyring_is_refused(
    signer: Signer, stranger: Signer, tmp_path: Path
) -> None:
    image, sums = image_with_sums(tmp_path)
    stranger.detach_sign(sums)
    keyring = signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg")
    done = run("info", "--keyring", keyring, image)
    assert done.returncode == 1
    assert "the key that made it is not in the keyring" in done.stderr


def test_debian_style_sha512sums_sign(signer: Signer, tmp_path: Path) -> None:
    image, sums = image_with_sums(tmp_path, "SHA512SUMS", "sha512")
    signer.detach_sign(sums, ".sign")
    entry = find_sums(image, signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg"))
    assert entry is not None and entry.algorithm == "sha512"
    assert entry.signature.verified and entry.signature.signer == signer.uid


def test_fedora_style_clearsigned_checksum_with_an_armoured_keyring(signer: Signer, tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    sums = tmp_path / "Fedora-Cloud-41-1.4-x86_64-CHECKSUM"
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    sums.write_text(f"# disk.qcow2: 4 MiB\nSHA256 (disk.qcow2) = {digest}\n- leading dash\n")
    signer.clearsign(sums)
    keyring = signer.keyring(tmp_path.parent / f"{tmp_path.name}.asc", armor=True)
    done = run("info", "--keyring", keyring, image)
    assert done.returncode == 0, done.stderr
    assert f"sha256 matches {sums.name} (signed by {signer.uid}" in done.stdout


@pytest.mark.parametrize("keyed", [True, False])
def test_lines_outside_a_clearsigned_message_are_never_read(
    signer: Signer, tmp_path: Path, keyed: bool
) -> None:
    """An attacker appends their own digest after the signature: it is not part of the
    signed text, so the image is checked against the signed digest (and does not match)."""
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    sums = tmp_path / "CHECKSUM"
    sums.write_text(f"SHA256 (disk.qcow2) = {'1' * 64}\n")
    signer.clearsign(sums)
    real = hashlib.sha256(image.read_bytes()).hexdigest()
    with open(sums, "a") as f:
        f.write(f"SHA256 (disk.qcow2) = {real}\n")
    keyring = signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg")
    done = run("info", *(["--keyring", str(keyring)] if keyed else []), image)
    assert done.returncode == 1
    assert f"does not match CHECKSUM: the file has {real}, the list says {'1' * 64}" in done.stdout


def test_an_unsigned_list_with_a_keyring_is_refused(signer: Signer, tmp_path: Path) -> None:
    image, _sums = image_with_sums(tmp_path)
    done = run("info", "--keyring", signer.keyring(tmp_path.parent / f"{tmp_path.name}.gpg"), image)
    assert done.returncode == 1
    assert_one_sentence(done.stderr)
    assert "not signed, but a keyring was given" in done.stderr


def test_a_keyring_that_is_a_fifo_is_refused_without_reading_it(signer: Signer, tmp_path: Path) -> None:
    """A blocking open() of a FIFO waits for a writer forever. A writer thread stands by so
    that code which does open it returns (reading an empty keyring) instead of hanging."""
    image, sums = image_with_sums(tmp_path)
    signer.detach_sign(sums)
    fifo = tmp_path.parent / f"{tmp_path.name}.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: os.close(os.open(fifo, os.O_WRONLY)))
    writer.start()
    try:
        done = run("info", "--keyring", fifo, image)
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # releases the writer if it still waits
        writer.join()
    assert done.returncode == 1
    assert_one_sentence(done.stderr)
    assert f"The keyring {fifo} is not a regular file." in done.stderr


def test_a_list_with_a_byte_order_mark_and_crlf_still_reports_its_first_line(tmp_path: Path) -> None:
    """Windows tools write a BOM before the first line: that line (here, a mismatch) must count."""
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    (tmp_path / "SHA256SUMS").write_bytes(b"\xef\xbb\xbf" + f"{'0' * 64}  disk.qcow2\r\n".encode())
    done = run("info", image)
    assert done.returncode == 1
    assert "sha256 does not match SHA256SUMS" in done.stdout


@pytest.mark.parametrize("honest_first", [True, False])
def test_a_list_that_names_the_image_twice_with_different_digests_is_refused(
    honest_first: bool, tmp_path: Path
) -> None:
    """Whichever line comes last must not decide: the list contradicts itself."""
    image, sums = image_with_sums(tmp_path)
    lines = [*sums.read_text().splitlines()[1:], f"{'0' * 64}  ./disk.qcow2"]
    sums.write_text("\n".join(lines if honest_first else lines[::-1]) + "\n")
    done = run("info", image)
    assert done.returncode == 1
    assert "SHA256SUMS gives 'disk.qcow2' two different digests; it was not trusted." in done.stderr
    assert "Checksum:" not in done.stdout


SWAPPER = """
import os, sys
os.chdir(sys.argv[1])
line = sys.argv[2]
while True:
    with open("list.tmp", "w") as f:
        f.write(line)
    os.replace("list.tmp", "SHA256SUMS")
    os.mkfifo("fifo.tmp")
    os.replace("fifo.tmp", "SHA256SUMS")
"""


def test_a_list_swapped_for_a_fifo_after_its_check_never_hangs(tmp_path: Path) -> None:
    """A second process swaps SHA256SUMS between a real list and a FIFO as fast as it can, so
    that some checks find a list and then open a FIFO: each check reads the list or finds
    none, and none blocks on the FIFO (which no one ever writes)."""
    image = tmp_path / "disk.raw"
    image.write_bytes(b"\x5a" * 4096)
    line = f"{hashlib.sha256(image.read_bytes()).hexdigest()}  disk.raw\n"
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(tmp_path), line])
    while not (tmp_path / "SHA256SUMS").exists():  # the swapper has started
        assert swapper.poll() is None
    found: list[bool] = []

    def check() -> None:
        while found.count(True) < 300 and len(found) < 100_000:
            entry = find_sums(image)
            found.append(entry is not None and entry.expected == line.split()[0])

    try:
        worker = threading.Thread(target=check, daemon=True)  # a hung open cannot be interrupted
        worker.start()
        worker.join(timeout=300)  # only against a hang; a healthy run takes a few seconds
        assert not worker.is_alive(), f"a check blocked on the FIFO after {len(found)} checks"
    finally:
        swapper.kill()
        swapper.wait()
    assert any(found), "the swapper must have let some checks read the list"
