"""CPython's own test_asyncio passes under the recorder wherever it passes without it.

Runs ``scripts/stdlib_asyncio.py`` with the interpreter running pytest, so ``make test`` checks
every Python it tests. It takes a minute or two; set LOOPVIZ_SKIP_STDLIB=1 to skip it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "stdlib_asyncio.py"


@pytest.mark.skipif(os.environ.get("LOOPVIZ_SKIP_STDLIB") == "1", reason="LOOPVIZ_SKIP_STDLIB=1")
def test_stdlib_asyncio_under_recorder() -> None:
    """Every test_asyncio test that fails under the recorder also fails without it."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"stdlib_asyncio.py exited {proc.returncode}:\n{report}"
    assert "stdlib test_asyncio under the recorder:" in proc.stdout, report
