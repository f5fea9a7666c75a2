"""Start-up: what ``loopviz record`` adds to ``python`` on a script that does nothing.

Run ``python benchmarks/startup.py [--pairs 30] [--quick]`` with the interpreter to measure
(the console script ``loopviz`` must sit beside it, as in a venv). It runs, alternating, one
``python empty.py`` and one ``loopviz record -q -o T empty.py`` per pair, each in a process of
its own, timed from start to exit; one pair first as a warm-up. Both get the same environment,
bytecode cached in a temporary directory (see _common.child_env). Then it prints the medians,
the difference and the ratio, against DESIGN.md's budget: at most 0.15 s over ``python``.

The launcher itself (``loopviz record`` until it execs the agent) and the agent's imports are
the whole difference; ``python -X importtime`` shows where they go. It never fails on a figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import child_env

BUDGET = 0.15  # seconds over python, at most


def _timed(command: list[str], cwd: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"startup: {' '.join(command)} exited with {proc.returncode}:\n"
            f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=30, help="python/loopviz pairs (default 30)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 pairs")
    args = parser.parse_args()
    pairs = 3 if args.quick else args.pairs
    if pairs < 1:
        print("startup: --pairs must be at least 1", file=sys.stderr)
        return 2
    loopviz = os.path.join(os.path.dirname(sys.executable), "loopviz")
    if not os.access(loopviz, os.X_OK):
        print(f"startup: no console script {loopviz}: install loopviz into this interpreter's "
              "environment (pip install -e .)", file=sys.stderr)  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory(prefix="loopviz-bench-") as tmp:
        env = child_env(False, os.path.join(tmp, "pycache"))
        with open(os.path.join(tmp, "empty.py"), "w"):
            pass
        commands = {
            "python empty.py": [sys.executable, "empty.py"],
            "loopviz record": [loopviz, "record", "-q", "-o", "T.lvtrace", "empty.py"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(pairs + 1):
            for name, command in commands.items():
                elapsed = _timed(command, tmp, env)
                if i:  # the first pair warms the page cache and writes the bytecode
                    times[name].append(elapsed)
    plain = statistics.median(times["python empty.py"])
    recorded = statistics.median(times["loopviz record"])
    over = recorded - plain
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print("startup: `loopviz record -q -o T empty.py` against `python empty.py`")
    print(f"  {impl}; {pairs} alternating pairs, each run in its own process")
    print(f"  {'median, whole process':32}{'python':>10}{'loopviz':>11}")
    print(f"  {'wall':32}{plain:>9.3f}s{recorded:>10.3f}s")
    print(f"  difference {over:.3f} s, ratio {recorded / plain:.2f}x")
    spread = ", ".join(f"{r - p:.3f}" for p, r in zip(*times.values(), strict=True))
    print(f"  per-pair difference (s): {spread}")
    verdict = "within budget" if over <= BUDGET else "OVER BUDGET"
    if args.quick:
        verdict += " (a --quick smoke run: too few pairs to judge the budget by)"
    print(f"  budget <= {BUDGET:.2f} s over python: {over:.3f} s, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
