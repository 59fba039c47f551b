"""A real GPG key made for a test (gpg --batch --quick-gen-key, no passphrase, a private
GNUPGHOME), and checksum files signed with it as Ubuntu, Debian and Fedora sign theirs."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Signer:
    home: Path
    uid: str

    def gpg(self, *args: str | Path) -> bytes:
        env = {**os.environ, "GNUPGHOME": str(self.home), "LC_ALL": "C"}
        done = subprocess.run(["gpg", "--batch", "--yes", "-q", *map(str, args)], env=env,
                              capture_output=True, check=True)  # fmt: skip
        return done.stdout

    def keyring(self, path: Path, armor: bool = False) -> Path:
        path.write_bytes(self.gpg(*(["--armor"] if armor else []), "--export"))
        return path

    def fingerprint(self) -> str:
        for line in self.gpg("--with-colons", "--fingerprint").decode().splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise AssertionError("no fingerprint")

    def detach_sign(self, path: Path, suffix: str = ".gpg") -> Path:
        signature = path.with_name(path.name + suffix)
        self.gpg(*(["--armor"] if suffix == ".asc" else []), "--detach-sign", "-o", signature, path)
        return signature

    def clearsign(self, path: Path) -> None:
        signed = path.with_name(path.name + ".tmp")
        self.gpg("--clearsign", "-o", signed, path)
        signed.replace(path)


def make_signer(home: Path, uid: str = "Image Builder <builder@example.org>") -> Signer:
    home.mkdir(mode=0o700)
    signer = Signer(home, uid)
    signer.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    return signer
