"""Redraw cost of the tasks table: `Table.refresh_rows()` plus drawing one full screen.

Builds fake task-like rows (12 columns, as in the Tasks view), mounts the table in a headless
200x60 app with a sort and a filter active, then repeatedly changes the rows in place (as live
updates do), calls ``refresh_rows()`` and renders every line of the table through the widget's
own ``render_lines`` (what the compositor calls). Prints the median time against the design's
budget of 50 ms as a ratio, for 10,000 and 100,000 rows. Exits 0 whatever the ratio.

    python benchmarks/table.py [--rows N ...] [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult

from visualizer.tui.widgets.table import Column, Table

BUDGET_MS = 50.0
SIZE = (200, 60)
STATES = {
    "running": "bold green",
    "ready": "bold dodger_blue1",
    "waiting": "dark_orange",
    "io": "cyan",
    "sleeping": "grey62",
    "done": "dim",
}


@dataclass
class FakeTask:
    """The fields a tasks-table row shows."""

    id: int
    name: str
    state: str
    coro: str
    where: str
    waiting_on: str
    steps: int
    busy_ns: int
    scheduled_ns: int
    idle_ns: int
    total_ns: int
    parent: int | None


def fake_tasks(n: int, seed: int = 1) -> list[FakeTask]:
    rng = random.Random(seed)
    kinds = ["worker", "fetch", "handler", "consumer", "producer", "timer"]
    return [
        FakeTask(
            id=i,
            name=f"{rng.choice(kinds)}-{i}",
            state=rng.choice(list(STATES)),
            coro=f"app.{rng.choice(kinds)}.run",
            where=f"app/{rng.choice(kinds)}.py:{rng.randrange(1, 400)}",
            waiting_on=rng.choice(["Queue.get", "sleep 0.5s", "Task-12", "fd 7 read", ""]),
            steps=rng.randrange(1, 10_000),
            busy_ns=rng.randrange(1_000, 10**9),
            scheduled_ns=rng.randrange(1_000, 10**7),
            idle_ns=rng.randrange(1_000, 10**10),
            total_ns=rng.randrange(10**6, 10**11),
            parent=rng.randrange(0, i) if i else None,
        )
        for i in range(n)
    ]


def ms(ns: int) -> str:
    return f"{ns / 1e6:.2f}ms"


def state_text(state: str) -> Text:
    return Text(state, STATES[state])


def column(
    key: str,
    title: str,
    width: int,
    show: Callable[[Any], str | Text] = str,
    **options: Any,
) -> Column:
    """A sortable column showing `show(task.<key>)`, searched only when asked to."""
    get = attrgetter(key)
    options.setdefault("searchable", False)
    return Column(key, title, width, lambda task: show(get(task)), sort_key=get, **options)


def task_columns() -> list[Column]:
    """The Tasks view's columns; the filter looks at the name, the state and the coroutine."""
    right = {"align": "right"}
    return [
        column("id", "ID", 6, priority=9, **right),
        column("name", "Name", 18, priority=8, flex=True, searchable=True),
        column("state", "State", 10, state_text, priority=7, searchable=True),
        column("coro", "Coroutine", 18, priority=5, searchable=True),
        column("where", "Suspended at", 20, priority=3),
        column("waiting_on", "Waiting on", 14, priority=4),
        column("steps", "Steps", 7, priority=2, **right),
        column("busy_ns", "Busy", 9, ms, priority=6, **right),
        column("scheduled_ns", "Sched", 9, ms, priority=1, **right),
        column("idle_ns", "Idle", 9, ms, priority=1, **right),
        column("total_ns", "Total", 9, ms, priority=2, **right),
        column("parent", "Parent", 6, lambda p: "" if p is None else str(p), priority=0),
    ]


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Table(
            task_columns(),
            row_key=lambda t: t.id,
            row_style=lambda t: "dim" if t.state == "done" else "",
        )


@dataclass
class Timings:
    """Milliseconds per run: refresh_rows alone (wall), and refresh_rows + full redraw (wall and
    CPU time; a machine busy with other work inflates wall time much more than CPU time)."""

    refresh: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    total_cpu: list[float] = field(default_factory=list)
    shown: int = 0


async def measure(n: int, repeat: int) -> Timings:
    app = BenchApp()
    timings = Timings()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(Table)
        tasks = fake_tasks(n)
        table.set_rows(tasks)
        table.sort_by("busy_ns", reverse=True)
        table.filter_text = "er"  # worker, handler, consumer, producer, timer: most rows
        table.focus()
        await pilot.pause()
        table.move_cursor(len(table.displayed_rows) // 2)
        region = table.size.region
        rng = random.Random(2)
        for _ in range(repeat):
            for task in rng.sample(tasks, min(n, 500)):  # live updates change some rows
                task.busy_ns += rng.randrange(1_000, 10**7)
                task.steps += 1
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            table.refresh_rows()
            t1 = time.perf_counter()
            strips = table.render_lines(region)
            c2, t2 = time.process_time(), time.perf_counter()
            assert len(strips) == region.height
            timings.refresh.append((t1 - t0) * 1e3)
            timings.total.append((t2 - t0) * 1e3)
            timings.total_cpu.append((c2 - c0) * 1e3)
            await pilot.pause()  # let the app settle as it would between updates
        timings.shown = len(table.displayed_rows)
    return timings


def report(n: int, timings: Timings) -> None:
    refresh = statistics.median(timings.refresh)
    total, cpu = statistics.median(timings.total), statistics.median(timings.total_cpu)
    ratio = total / BUDGET_MS
    verdict = "within budget" if ratio <= 1 else "OVER BUDGET"
    print(
        f"table: {n:,} rows ({timings.shown:,} shown after the filter), sorted, {SIZE[0]}x{SIZE[1]}"
    )
    print(
        f"  median of {len(timings.total)}: refresh_rows {refresh:.1f} ms; "
        f"refresh_rows + full redraw {total:.1f} ms wall "
        f"(min {min(timings.total):.1f}, max {max(timings.total):.1f}), {cpu:.1f} ms CPU"
    )
    print(
        f"  budget <= {BUDGET_MS:.0f} ms: ratio {ratio:.2f}x wall ({cpu / BUDGET_MS:.2f}x CPU), "
        f"{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=21, help="timed runs per size")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeat = [2_000], min(args.repeat, 3)
    print(f"{sys.implementation.name} {sys.version.split()[0]}")
    for n in args.rows:
        report(n, asyncio.run(measure(n, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
