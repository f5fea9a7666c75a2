"""The benchmark scripts run end to end (``--quick``) and print a ratio: a smoke test only.

Nothing here looks at the timings: the ratios are for people, on quiet machines (``make bench``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
