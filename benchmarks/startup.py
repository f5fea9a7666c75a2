"""Start-up: what ``loopviz record`` adds to ``python`` on a script that does nothing.

Run ``python benchmarks/startup.py [--pairs 30] [--quick]`` with the interpreter to measure
(the console script ``loopviz`` must sit beside it, as in a venv). It runs, alternating, one
``python empty.py`` and one ``loopviz record -q -o T empty.py`` per pair, each in a process of
its own, timed from start to exit; one pair first as a warm-up. Both get the same environment,
bytecode cached in a temporary directory (see _common.child_env). Then it prints the medians
(wall, and CPU time, which a busy machine disturbs less), the difference and the ratio, against
DESIGN.md's budget: at most 0.15 s over ``python``.

The launcher itself (``loopviz record`` until it execs the agent) and the agent's imports are
the whole difference; ``python -X importtime`` shows where they go. The agent imports asyncio,
which a program that uses asyncio imports anyway: the same pairs on a script that only imports
asyncio show what loopviz adds to such a program. It never fails on a figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from _common import child_env

BUDGET = 0.15  # seconds over python, at most


def _timed(command: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; its wall time, and its CPU time (user + system), which a busy machine
    disturbs less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"startup: {' '.join(command)} exited with {proc.returncode}:\n"
            f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}"
        )
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


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
        with open(os.path.join(tmp, "uses_asyncio.py"), "w") as script:
            script.write("import asyncio\n")
        commands = {
            (script, side): command
            for script in ("empty.py", "uses_asyncio.py")
            for side, command in (
                ("python", [sys.executable, script]),
                ("loopviz", [loopviz, "record", "-q", "-o", "T.lvtrace", script]),
            )
        }
        times: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
        for i in range(pairs + 1):
            for key, command in commands.items():
                elapsed, used = _timed(command, tmp, env)
                if i:  # the first round warms the page cache and writes the bytecode
                    times[key].append(elapsed)
                    cpu[key].append(used)
    plain = statistics.median(times["empty.py", "python"])
    recorded = statistics.median(times["empty.py", "loopviz"])
    over = recorded - plain
    plain_cpu = statistics.median(cpu["empty.py", "python"])
    recorded_cpu = statistics.median(cpu["empty.py", "loopviz"])
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print("startup: `loopviz record -q -o T empty.py` against `python empty.py`")
    print(f"  {impl}; {pairs} rounds of alternating runs, each in its own process")
    print(f"  {'median, whole process':32}{'python':>10}{'loopviz':>11}")
    print(f"  {'wall':32}{plain:>9.3f}s{recorded:>10.3f}s")
    print(f"  {'CPU time (user + system)':32}{plain_cpu:>9.3f}s{recorded_cpu:>10.3f}s")
    print(f"  difference {over:.3f} s, ratio {recorded / plain:.2f}x "
          f"(CPU time: {recorded_cpu - plain_cpu:.3f} s more)")  # fmt: skip
    pairs_over = zip(times["empty.py", "python"], times["empty.py", "loopviz"], strict=True)
    print(f"  per-pair difference (s): {', '.join(f'{r - p:.3f}' for p, r in pairs_over)}")
    verdict = "within budget" if over <= BUDGET else "OVER BUDGET"
    if args.quick:
        verdict += " (a --quick smoke run: too few pairs to judge the budget by)"
    print(f"  budget <= {BUDGET:.2f} s over python: {over:.3f} s, {verdict}")
    plain = statistics.median(times["uses_asyncio.py", "python"])
    recorded = statistics.median(times["uses_asyncio.py", "loopviz"])
    print(f"  a script that only imports asyncio: python {plain:.3f} s, loopviz {recorded:.3f} s, "
          f"{recorded - plain:.3f} s more (asyncio's import is the program's there)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
