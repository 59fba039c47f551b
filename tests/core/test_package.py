"""The installed package: its names, its entry points, and a core that needs no Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import diskscope

ROOT = Path(__file__).resolve().parents[2]

BLOCK_QT = """
import importlib, pkgutil, sys
class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ImportError("PySide6 is blocked in this test")
sys.meta_path.insert(0, NoQt())
import diskscope.core
for mod in pkgutil.walk_packages(diskscope.core.__path__, "diskscope.core."):
    importlib.import_module(mod.name)
print("ok", len(sys.modules))
"""


def test_core_imports_without_pyside6() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCK_QT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


# Every core test module (and the shared conftest) imported with PySide6 unimportable, as pytest
# would import them: the folder of tests/ on sys.path. A helper that pulls in Qt fails this.
CORE_TESTS_WITHOUT_QT = """
import importlib.util, pathlib, sys
class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "pytestqt"):
            raise ImportError("PySide6 is blocked in this test")
sys.meta_path.insert(0, NoQt())
tests = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(tests))
files = [tests / "conftest.py", *sorted((tests / "core").glob("*.py"))]
for file in files:
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module  # as an import would: dataclasses look their module up
    spec.loader.exec_module(module)
print("imported", len(files))
"""


def test_core_tests_import_without_pyside6() -> None:
    tests = ROOT / "tests"
    done = subprocess.run(
        [sys.executable, "-c", CORE_TESTS_WITHOUT_QT, str(tests)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"imported {1 + len(list((tests / 'core').glob('*.py')))}\n"


def test_python_dash_m_and_console_script_agree() -> None:
    via_module = subprocess.run(
        [sys.executable, "-m", "diskscope", "--version"], capture_output=True, text=True
    )
    script = Path(sys.executable).with_name("diskscope")
    via_script = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert via_module.stdout == via_script.stdout == f"diskscope {diskscope.__version__}\n"


def test_wheel_holds_one_diskscope_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, env={**os.environ, "PIP_NO_INDEX": "1"},
    )  # fmt: skip
    wheel = next(tmp_path.glob("diskscope-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("diskscope-")}
    assert tops == {"diskscope"}
    assert "diskscope/__main__.py" in names
    assert "diskscope/core/inspect/qcow.py" in names
    assert "diskscope/gui/__init__.py" in names
    assert "diskscope/resources/diskscope.svg" in names
    assert not any(n.startswith("diskscope/tests") for n in names)


def test_desktop_file_and_metainfo_validate() -> None:
    resources = ROOT / "resources"
    desktop = resources / "org.diskscope.Diskscope.desktop"
    done = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout
    metainfo = resources / "org.diskscope.Diskscope.metainfo.xml"
    done = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(metainfo)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_modules_import_each_other_relatively() -> None:
    """Inside the package an import names a folder a reader (or a path-based tool) can follow."""
    import ast

    absolute = []
    for folder in ("core", "gui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and (node.module or "").startswith("diskscope")
                ):
                    absolute.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.Import) and any(a.name.startswith("diskscope") for a in node.names):
                    absolute.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert absolute == []
