"""The benchmark scripts run end to end (``--quick``) and print a ratio: a smoke test only.

Nothing here looks at the timings: the ratios are for people, on quiet machines (``make bench``).
"""

from __future__ import annotations

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
