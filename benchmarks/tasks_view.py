"""The tasks view with 10,000 real tasks: one redraw tick (table refresh + every pane) and a
full repaint of the table, for each sort column. Budget: <= 50 ms (DESIGN.md).

Run ``python benchmarks/tasks_view.py [--tasks 10000]``. It records a program that makes that
many tasks (two thirds asleep, one third done) and opens its trace in the viewer, headless at
200x60. Prints the median and the worst of 9 ticks per column, against the budget.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session
from visualizer.tui.widgets.table import Table

BUDGET = 0.050
PROGRAM = """
import asyncio, sys

async def sleeper(i):
    await asyncio.sleep(3600 if i % 3 else 0.01)

async def main(n):
    tasks = [asyncio.create_task(sleeper(i), name=f"sleeper-{i}") for i in range(n)]
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()

asyncio.run(main(int(sys.argv[1])))
"""


async def measure(trace: str) -> list[tuple[str, float, float]]:
    app = LoopvizApp(Session(trace, None))
    results = []
    async with app.run_test(size=(200, 60)) as pilot:
        while not app.session.finished:
            await pilot.pause(0.1)
        table = app.query_one("#tasks", Table)
        sortable = [column.key for column in table.columns if column.sort_key is not None]
        for key in [None, *sortable]:
            if key is not None:
                table.sort_by(key, reverse=False)
            times = []
            for _ in range(9):
                app._version = -1  # as if new records had arrived: rows are set again
                t0 = time.perf_counter()
                app.tick()
                for y in range(table.size.height):
                    table.render_line(y)
                times.append(time.perf_counter() - t0)
            results.append((key or "(unsorted)", statistics.median(times), max(times)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        script = Path(workdir) / "many.py"
        script.write_text(textwrap.dedent(PROGRAM))
        trace = str(Path(workdir) / "many.lvtrace")
        subprocess.run(
            [sys.executable, "-m", "visualizer", "record", "-q", "-o", trace, str(script),
             str(args.tasks)],
            check=True,
        )  # fmt: skip
        results = asyncio.run(measure(trace))
    print(f"{args.tasks:,} tasks, tick + full table repaint at 200x60 (budget 50 ms):")
    for key, median, worst in results:
        print(f"  sorted by {key:<11} median {median * 1e3:6.1f} ms  worst {worst * 1e3:6.1f} ms"
              f"  ({worst / BUDGET:.2f}x budget)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
