"""The recorder's budgets on one interpreter, in one command: storm, echo and start-up.

Runs, with the interpreter that runs it, one after the other: ``sleep0.py --callgrind`` (the
``sleep(0)`` storm, budget 1.5x), ``echo.py --callgrind`` (loopback echo, budget 1.25x, aim
1.10x) and, when it is there, ``startup.py`` (``loopviz record`` on an empty script, budget
0.15 s over ``python``). Their full reports go to stdout as they come; then one summary row:
the whole-process wall ratios (medians of alternating pairs: what the budgets are judged on)
beside the marginal callgrind instruction ratios (which machine noise does not touch), and the
start-up difference. It never fails on a figure (non-zero only when a benchmark fails to run).

    python benchmarks/budgets.py [--quick] [--no-callgrind] [--callgrind-dir DIR]
    python benchmarks/budgets.py --table ROWS.jsonl...   the summary rows as one table

The last line of a run is ``BUDGETS-ROW {json}``: benchmarks/all_pythons.sh collects those from
every Python and prints them with ``--table``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROW_MARK = "BUDGETS-ROW "
STORM_BUDGET, ECHO_BUDGET, ECHO_AIM, STARTUP_BUDGET = 1.5, 1.25, 1.10, 0.15


def _run(script: str, args: list[str]) -> tuple[int, str]:
    """Run a benchmark script, passing its output through as it comes; return (status, stdout)."""
    cmd = [sys.executable, os.path.join(HERE, script), *args]
    print(f"$ {' '.join(cmd)}", flush=True)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        out = []
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.append(line)
    return proc.returncode, "".join(out)


def _figures(path: str, bench: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                figures = json.loads(line)
                if figures.get("bench") == bench:
                    found = figures
    return found


def _startup(quick: bool) -> dict[str, Any]:
    """startup.py's difference, read from what it prints ("difference 0.123 s")."""
    if not os.path.exists(os.path.join(HERE, "startup.py")):
        return {"startup": None, "startup_note": "no benchmarks/startup.py"}
    status, out = _run("startup.py", ["--quick"] if quick else [])
    over = re.search(r"difference (-?[0-9.]+) s", out)
    pairs = re.findall(r"per-pair difference \(s\): (.*)", out)
    spread = [float(x) for x in pairs[-1].split(",")] if pairs else []
    if status != 0 or over is None:
        return {"startup": None, "startup_note": f"startup.py exited {status}"}
    return {"startup": float(over.group(1)), "startup_pairs": spread}


def measure(args: argparse.Namespace) -> int:
    row: dict[str, Any] = {"python": sys.version.split()[0], "quick": args.quick}
    failed = []
    if not args.no_callgrind and shutil.which("valgrind") is None:
        print("budgets: no valgrind on PATH: wall ratios only (apt-get install valgrind)")
        args.no_callgrind = True
    with tempfile.TemporaryDirectory(prefix="loopviz-budgets-") as tmp:
        results = os.path.join(tmp, "figures.jsonl")
        extra = ["--json", results]
        if args.quick:
            extra.append("--quick")
        if not args.no_callgrind:
            extra.append("--callgrind")
        for script, bench in (("sleep0.py", "sleep0"), ("echo.py", "echo")):
            more = []
            if args.callgrind_dir and not args.no_callgrind:
                version = f"{sys.version_info[0]}.{sys.version_info[1]}"
                out = os.path.join(args.callgrind_dir, version, bench)
                more = ["--callgrind-dir", os.path.abspath(out)]
            status, _ = _run(script, [*extra, *more])
            if status != 0:
                failed.append(script)
            row[bench] = _figures(results, bench)
    row.update(_startup(args.quick))
    print()
    print(format_table([row]))
    print(ROW_MARK + json.dumps(row), flush=True)
    if failed:
        print(f"budgets: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


# -- the table -----------------------------------------------------------------------------


def _ratio(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return "n/a" if value is None else f"{value:.2f}x"


def _wall(figures: dict[str, Any]) -> str:
    """The wall ratio (of the medians), and the median and range of the per-pair ratios: the
    further apart those are, the noisier the machine was."""
    pairs = figures.get("wall_pairs")
    if not pairs:
        return "n/a"
    mid = statistics.median(pairs)
    return f"{figures['wall_ratio']:.2f}x ({mid:.2f}x, {min(pairs):.2f}-{max(pairs):.2f})"


def _mark(value: float | None, budget: float) -> str:
    return "" if value is None or value <= budget else " !"


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'Python':8} {'storm wall':>27} {'storm Ir':>9} {'Ir/step':>13} "
        f"{'echo wall':>27} {'echo Ir':>9} {'Ir/round trip':>15} {'start-up':>9}"
    )
    lines = [
        f"budgets: storm <= {STORM_BUDGET}x, echo <= {ECHO_BUDGET}x (aim {ECHO_AIM}x), "
        f"start-up <= {STARTUP_BUDGET} s over python; wall = whole-process ratio of the medians "
        "(median per-pair ratio, min-max), Ir = marginal callgrind instruction ratio, "
        "! = over budget",
        head,
        "-" * len(head),
    ]
    for row in rows:
        storm, echo = row.get("sleep0", {}), row.get("echo", {})
        per_step = per_trip = "n/a"
        if "ir_per_unit_plain" in storm:
            per_step = f"{storm['ir_per_unit_plain']:,.0f}/{storm['ir_per_unit_recorded']:,.0f}"
        if "ir_per_unit_plain" in echo:
            per_trip = f"{echo['ir_per_unit_plain'] / 1000:,.0f}k/"
            per_trip += f"{echo['ir_per_unit_recorded'] / 1000:,.0f}k"
        startup = row.get("startup")
        start = "n/a" if startup is None else f"{startup:.3f} s"
        lines.append(
            f"{row.get('python', '?'):8} "
            f"{_wall(storm) + _mark(storm.get('wall_ratio'), STORM_BUDGET):>27} "
            f"{_ratio(storm, 'ir_ratio') + _mark(storm.get('ir_ratio'), STORM_BUDGET):>9} "
            f"{per_step:>13} "
            f"{_wall(echo) + _mark(echo.get('wall_ratio'), ECHO_BUDGET):>27} "
            f"{_ratio(echo, 'ir_ratio') + _mark(echo.get('ir_ratio'), ECHO_BUDGET):>9} "
            f"{per_trip:>15} "
            f"{start + _mark(startup, STARTUP_BUDGET):>9}"
            + (" (--quick)" if row.get("quick") else "")
        )
    return "\n".join(lines)


def table(paths: list[str]) -> int:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                if line.startswith(ROW_MARK):
                    rows.append(json.loads(line[len(ROW_MARK) :]))
    print(format_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs: small and few")
    parser.add_argument("--no-callgrind", action="store_true", help="wall ratios only")
    parser.add_argument(
        "--callgrind-dir", help="keep the callgrind.out files in DIR/X.Y/{sleep0,echo}/"
    )
    parser.add_argument("--table", nargs="+", metavar="FILE", help="print the rows in FILEs")
    args = parser.parse_args(argv)
    if args.table:
        return table(args.table)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
