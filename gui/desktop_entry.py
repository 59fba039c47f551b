"""`diskscope-gui --install-desktop-entry`: the menu entry, icon and metainfo, per user.

`pip install` puts files only inside the Python environment, where no desktop
looks. This copies the .desktop file (its Exec= pointing at this very
`diskscope-gui`), the icon and the AppStream metainfo under XDG_DATA_HOME, then
refreshes the MIME cache with `update-desktop-database` where it exists, so
that the menu and "Open with" offer Diskscope. Qt-free: it runs without a display.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

APP_ID = "org.diskscope.Diskscope"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (XDG Base Directory)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def targets(root: Path) -> dict[str, Path]:
    return {
        "desktop": root / "applications" / f"{APP_ID}.desktop",
        "icon": root / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        "metainfo": root / "metainfo" / f"{APP_ID}.metainfo.xml",
    }


def gui_command() -> str:
    """The absolute path of the running `diskscope-gui`, else a `python -m` line that starts it."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "diskscope-gui" and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    found = shutil.which("diskscope-gui")
    if found:
        return shlex.quote(os.path.abspath(found))
    return f"{shlex.quote(sys.executable)} -c 'from diskscope.gui.app import main; main()'"


def desktop_file_text(command: str) -> str:
    lines = (RESOURCES / f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines()
    fixed = [f"Exec={command} %F" if line.startswith("Exec=") else line for line in lines]
    return "\n".join(fixed) + "\n"


def install(root: Path | None = None) -> list[Path]:
    """Write the three files; return their paths."""
    paths = targets(root or data_home())
    texts = {
        "desktop": desktop_file_text(gui_command()),
        "icon": (RESOURCES / "diskscope.svg").read_text(encoding="utf-8"),
        "metainfo": (RESOURCES / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8"),
    }
    for kind, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        part.write_text(texts[kind], encoding="utf-8")
        os.replace(part, path)
    _refresh(paths["desktop"].parent)
    return list(paths.values())


def uninstall(root: Path | None = None) -> list[Path]:
    """Remove what `install` wrote; return the paths that were there."""
    removed = []
    paths = targets(root or data_home())
    for path in paths.values():
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    _refresh(paths["desktop"].parent)
    return removed


def _refresh(applications: Path) -> None:
    tool = shutil.which("update-desktop-database")
    if tool and applications.is_dir():
        subprocess.run([tool, str(applications)], stdin=subprocess.DEVNULL, capture_output=True, check=False)


def run(remove: bool) -> int:
    """The command-line flags' work: one line per file, one sentence on failure."""
    try:
        paths = uninstall() if remove else install()
    except OSError as exc:
        print(f"diskscope-gui: could not {'remove' if remove else 'install'} the desktop entry: "
              f"{exc.strerror} ({exc.filename}).", file=sys.stderr)  # fmt: skip
        return 1
    verb = "removed" if remove else "installed"
    for path in paths:
        print(f"{verb} {path}")
    if not paths:
        print("nothing to remove: no desktop entry was installed here")
    return 0
