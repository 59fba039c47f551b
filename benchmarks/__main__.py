"""`python -m benchmarks [--quick]`: run every row, print the table, write the report."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks import rows
from benchmarks.harness import Row
from benchmarks.report import table, write

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small data, under a minute; what CI runs")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these groups: convert, appliance, download, upload, inspect, memory, gui")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="where to make the data (default: a temp folder)")
    parser.add_argument("--report-dir", type=Path, default=ROOT,
                        help="where benchmarks/results and docs/performance.md are written (default: here)")  # fmt: skip
    args = parser.parse_args()
    sizes = rows.Sizes.pick(args.quick)
    work = Path(tempfile.mkdtemp(prefix="diskscope-bench-", dir=args.workdir))
    groups = {
        "convert": rows.convert_rows,
        "appliance": rows.appliance_rows,
        "download": rows.download_rows,
        "upload": rows.upload_rows,
        "inspect": rows.inspect_rows,
        "memory": lambda w, s: [rows.memory_row(w, s)],
        "gui": rows.gui_rows,
    }
    results: list[Row] = []
    try:
        for name, run in groups.items():
            if args.only and name not in args.only:
                continue
            print(f"running {name} …", file=sys.stderr, flush=True)
            folder = work / name
            folder.mkdir()
            results += run(folder, sizes)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    write(results, args.quick, args.report_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
