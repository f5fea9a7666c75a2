"""CPython's own test_asyncio passes under the recorder wherever it passes without it.

Runs ``scripts/stdlib_asyncio.py`` with the interpreter running pytest, so ``make test`` checks
every Python it tests. It takes a minute or two; set LOOPVIZ_SKIP_STDLIB=1 to skip it. With
LOOPVIZ_STDLIB_REPORT set, its one-line result goes into that file (for make test's table).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "stdlib_asyncio.py"
LIMIT = 1200  # seconds for the whole script; pytest's own limit on this test is a minute more


def _report(line: str) -> None:
    path = os.environ.get("LOOPVIZ_STDLIB_REPORT")
    if path:
        Path(path).write_text(line + "\n", encoding="utf-8")


# About 70-150 s with two workers, and a rerun of anything that failed comes on top: the limit is
# the script's, not pyproject's default 120 s.
@pytest.mark.skipif(os.environ.get("LOOPVIZ_SKIP_STDLIB") == "1", reason="LOOPVIZ_SKIP_STDLIB=1")
@pytest.mark.timeout(LIMIT + 60)
def test_stdlib_asyncio_under_recorder() -> None:
    """Every test_asyncio test that fails under the recorder also fails without it."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LIMIT,
        )
    except subprocess.TimeoutExpired:
        _report(f"stdlib test_asyncio under the recorder: TIMED OUT after {LIMIT} s")
        raise
    report = proc.stdout + proc.stderr
    said = [line for line in proc.stdout.splitlines() if line.startswith("stdlib test_asyncio")]
    outcome = said[-1] if said else f"stdlib_asyncio.py exited {proc.returncode}, no result line"
    _report(f"{outcome} [{time.monotonic() - started:.0f} s]")
    assert proc.returncode == 0, f"stdlib_asyncio.py exited {proc.returncode}:\n{report}"
    assert "stdlib test_asyncio under the recorder:" in proc.stdout, report
