"""The benchmark scripts run end to end (``--quick``) and print a ratio: a smoke test only.

Nothing here looks at the timings: the ratios are for people, on quiet machines (``make bench``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.once  # the same on every Python: see pyproject.toml

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", ["sleep0.py", "echo.py"])
def test_benchmark_quick_run_prints_a_ratio(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("ratio" in line for line in proc.stdout.splitlines()), proc.stdout
    assert "records" in proc.stdout, proc.stdout


# Stands in for valgrind: runs the command natively and writes a callgrind.out whose total is
# larger with the workload than without, so the plumbing (four children, the marginal ratio,
# --json) is checked in seconds; the real instruction counts are for people (make bench-all).
FAKE_VALGRIND = """#!/bin/sh
for a in "$@"; do
  case "$a" in --callgrind-out-file=*) out="${a#*=}" ;; esac
done
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
"$@" || exit $?
case " $* " in *" --tasks 0 "*|*" --clients 0 "*) n=1000 ;; *) n=5000 ;; esac
case " $* " in *" recorded "*) n=$((n * 2)) ;; esac
printf 'events: Ir\ntotals: %s\n' "$n" > "$out"
"""


@pytest.mark.parametrize("script", ["sleep0.py", "echo.py"])
def test_callgrind_option_prints_the_marginal_instruction_ratio(
    script: str, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "valgrind"
    fake.parent.mkdir()
    fake.write_text(FAKE_VALGRIND)
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    figures = tmp_path / "figures.jsonl"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--pairs", "0", "--callgrind",
         "--json", str(figures)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (10000 - 2000) / (5000 - 1000): the recorded side's marginal count over the plain side's
    assert "instructions 2.00x" in proc.stdout, proc.stdout
    (row,) = [json.loads(line) for line in figures.read_text().splitlines()]
    assert row["ir_ratio"] == 2.0 and "wall_ratio" not in row


def test_budgets_table_has_a_row_per_python(tmp_path: Path) -> None:
    rows = tmp_path / "budgets-3.99.log"
    storm = {"wall_ratio": 1.2, "wall_pairs": [1.1, 1.3], "ir_ratio": 1.37,
             "ir_per_unit_plain": 13000, "ir_per_unit_recorded": 17800}  # fmt: skip
    echo = {"wall_ratio": 1.3, "wall_pairs": [1.2, 1.4], "ir_ratio": 1.8}
    row = {"python": "3.99.0", "sleep0": storm, "echo": echo, "startup": 0.1}
    rows.write_text("noise\nBUDGETS-ROW " + json.dumps(row) + "\n")
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "budgets.py"), "--table", str(rows)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("3.99.0")]
    assert "1.20x (1.20x, 1.10-1.30)" in line and "1.37x" in line and "1.80x !" in line, line
    assert "0.100 s" in line, line


@pytest.mark.parametrize(
    ("script", "args", "says"),
    [
        ("ingest.py", ["--quick"], "records/s"),
        ("open.py", ["--quick"], "budget"),
        ("table.py", ["--quick"], "budget"),
        ("tasks_view.py", ["--tasks", "300"], "budget"),
        ("timeline.py", ["--quick"], "budget"),
        ("live.py", ["--seconds", "1", "--tasks", "20", "--rate", "20000"], "key handling"),
    ],
)
def test_viewer_benchmark_quick_run_prints_its_figures(
    script: str, args: list[str], says: str
) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert says in proc.stdout, proc.stdout
