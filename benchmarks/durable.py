"""What makes a timed run honest about the disk: each side must end with its output on disk,
and every run starts from the same cache state.

`trace` runs a command once under strace (its warm-up) and answers two questions: did it
fsync its output (following the renames and links that gave the output its name) and its
folder; and which files did it read (read back into the page cache before each of its timed
runs, so neither side pays for a cold start the other does not). `Reset` is what runs before
each timed run: remove the outputs, `sync`, drop the page cache when root, read those files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SYSCALLS = "fsync,fdatasync,sync,syncfs,openat,open,rename,renameat,renameat2,link,linkat"
_LINE = re.compile(r"^(?P<pid>\d+) +(?P<call>\w+)\((?P<args>.*)\) += (?P<result>-?\d+)(?:<(?P<path>.*)>)?")
_FD = re.compile(r"^(?:-?\d+|AT_FDCWD)<(?P<path>[^>]*)>$")
_SKIP_READS = ("/proc/", "/sys/", "/dev/")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


@dataclass(frozen=True)
class Trace:
    durable: bool  # the output and its folder were fsynced (or the whole filesystem synced)
    reads: tuple[Path, ...]  # regular files it opened outside the output folder


def _split_args(args: str) -> list[str]:
    """strace's argument list split at top-level commas (strings are quoted, fds decorated)."""
    parts, depth, quoted, current = [], 0, False, []
    escaped = False
    for ch in args:
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "<[{(":
            depth += 1
        elif ch in ">]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _joined(lines: Iterable[str]) -> Iterable[str]:
    """Whole calls: `<unfinished ...>` halves joined with their `<... resumed>` rest."""
    pending: dict[str, str] = {}
    for line in lines:
        pid = line.split(" ", 1)[0]
        if line.endswith("<unfinished ...>"):
            pending[pid] = line[: -len("<unfinished ...>")].rstrip()
        elif " resumed>" in line and pid in pending:
            yield pending.pop(pid) + line.split(" resumed>", 1)[1]
        else:
            yield line


def _path(arg: str, cwd: str, dir_arg: str | None = None) -> str:
    name = arg.strip('"')
    if name.startswith("/"):
        return os.path.normpath(name)
    base = cwd
    if dir_arg is not None and (m := _FD.match(dir_arg)):
        base = m["path"]
    return os.path.normpath(os.path.join(base, name))


def parse(lines: Iterable[str], output: Path, cwd: Path) -> Trace:
    """Read an `strace -f -y` log: was `output` made durable, and what was read."""
    synced: set[str] = set()
    everything = False
    cwds: dict[str, str] = {}
    reads: set[str] = set()
    for line in _joined(lines):
        m = _LINE.match(line)
        if m is None or int(m["result"]) < 0:
            continue
        pid, call, args = m["pid"], m["call"], _split_args(m["args"])
        if fdcwd := re.search(r"AT_FDCWD<([^>]*)>", m["args"]):
            cwds[pid] = fdcwd[1]
        here = cwds.get(pid, str(cwd))
        if call in ("sync", "syncfs"):
            everything = True
        elif call in ("fsync", "fdatasync") and (fd := _FD.match(args[0])):
            synced.add(os.path.normpath(fd["path"]))
        elif call in ("open", "openat") and m["path"]:
            reads.add(m["path"])
        elif call in ("rename", "link"):
            _moved(synced, _path(args[0], here), _path(args[1], here), keep=call == "link")
        elif call in ("renameat", "renameat2", "linkat"):
            source, target = _path(args[1], here, args[0]), _path(args[3], here, args[2])
            _moved(synced, source, target, keep=call == "linkat")
    out, folder = os.path.normpath(output), os.path.normpath(output.parent)
    durable = everything or (out in synced and folder in synced)
    inside = folder + os.sep
    kept = sorted(
        Path(p)
        for p in reads
        if not p.startswith(inside) and not p.startswith(_SKIP_READS) and os.path.isfile(p)
    )
    return Trace(durable, tuple(kept))


def _moved(synced: set[str], source: str, target: str, keep: bool) -> None:
    """A synced file keeps its data under a new name (a rename moves it, a link adds one)."""
    if source in synced:
        synced.add(target)
        if not keep:
            synced.discard(source)
    else:
        synced.discard(target)  # a new file took the name


def trace(argv: list[str] | str, output: Path) -> Trace:
    """Run the command once under strace (the run is its warm-up) and read what it did."""
    with tempfile.TemporaryDirectory(prefix="diskscope-trace-") as folder:
        log = Path(folder) / "strace.log"
        command = ["sh", "-c", argv] if isinstance(argv, str) else argv
        done = subprocess.run(
            ["strace", "-f", "-qq", "--seccomp-bpf", "-y", "-e", f"trace={_SYSCALLS}", "-o", str(log),
             "--", *command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"traced command failed: {command}: {done.stderr[-800:]}")
        with open(log, errors="replace") as f:
            return parse(f, output, Path.cwd())


def can_drop_caches() -> bool:
    return os.access(DROP_CACHES, os.W_OK)


@dataclass
class Reset:
    """Before every timed run: outputs gone, no dirty pages, the next command's files cached."""

    outputs: Path  # a folder only the measured commands write into
    warm: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # command key: what it reads
    drop: bool = True

    def __call__(self, key: str | None = None) -> None:
        shutil.rmtree(self.outputs, ignore_errors=True)
        self.outputs.mkdir(parents=True)
        os.sync()
        if key is None:
            return
        if self.drop and can_drop_caches():
            DROP_CACHES.write_text("3\n")
        for path in self.warm.get(key, ()):
            _read_through(path)


def _read_through(path: Path) -> None:
    """Read a file (its data blocks only: holes are skipped) so it is in the page cache."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        size, offset = os.fstat(fd).st_size, 0
        while offset < size:
            try:
                offset = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fd, offset, os.SEEK_HOLE)
            while offset < end:
                chunk = os.pread(fd, min(8 << 20, end - offset), offset)
                if not chunk:
                    break
                offset += len(chunk)
    finally:
        os.close(fd)
