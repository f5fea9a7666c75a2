"""Opening a big trace and browsing it in time: `Model.load`, `Model.at(t)`, a cursor move.

Run ``python benchmarks/open.py [--tasks 10000] [--rounds 38] [--repeat 3] [--quick]``.
It records (in this process, as ingest.py does) a program of that many tasks in pairs and
groups of ten, each doing `rounds` rounds of ``await asyncio.sleep(0)``, a ping-pong with its
partner through two Queues and a wait on an Event its group's leader sets: ~100 awaits per task,
most of them woken by another task, ~1,000,000 records in all (``--quick``: 20x fewer tasks).
Then it prints, against DESIGN.md's budgets:

- open: wall and CPU time of ``Model.load(path)`` (read + replay of the whole file), against
  "open a 1M-record trace ready to browse <= 2 s", scaled to the trace's records;
- time cursor: ``model.at(t)``, a snapshot of every task at t: the first call (cold, on a fresh
  model: shown, not judged, as the viewer prepares every task in the background once the trace
  is read), the first call once prepared, random jumps, and small forward moves (as the replay
  does), against "redraw with 10k tasks / 1M records <= 50 ms";
- cursor move + redraw: in the viewer (headless, 200x60, the trace opened by its own session),
  what a cursor move costs: ``app.tick()`` with ``session.cursor`` set (snapshot, then the
  table's rows and every pane), the tasks table's lines, then a full-screen paint through the
  compositor, each part timed, against the same 50 ms.

It never fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import visualizer
from visualizer.model import Model
from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session
from visualizer.tui.widgets.table import Table

OPEN_BUDGET = 2.0  # seconds to open a trace of OPEN_RECORDS records, at most
OPEN_RECORDS = 1_000_000
REDRAW_BUDGET = 0.050  # seconds for a redraw with 10k tasks / 1M records, at most
SIZE = (200, 60)
GROUP = 10  # tasks per Event group (an even number: tasks are in pairs)
JUMPS = 30  # random cursor jumps timed on the model
MOVES = 50  # small forward moves timed on the model
APP_MOVES = 20  # cursor moves timed in the viewer
STEP_FRACTION = 500  # a small move: the trace's duration / this
SEED = 1


# -- the program recorded ------------------------------------------------------------------


async def worker(
    i: int,
    rounds: int,
    inbox: asyncio.Queue[int],
    outbox: asyncio.Queue[int],
    events: list[asyncio.Event],
    leader: bool,
) -> None:
    for r in range(rounds):
        await asyncio.sleep(0)
        if i % 2 == 0:  # ping-pong with the partner: each wakes the other
            await outbox.put(r)
            await inbox.get()
        else:
            await inbox.get()
            await outbox.put(r)
        if leader:  # the group waits for its leader
            await asyncio.sleep(0)
            events[r].set()
        else:
            await events[r].wait()


async def program(tasks: int, rounds: int) -> None:
    async with asyncio.TaskGroup() as group:
        for g in range(tasks // GROUP):
            events = [asyncio.Event() for _ in range(rounds)]
            for k in range(0, GROUP, 2):
                a: asyncio.Queue[int] = asyncio.Queue(1)
                b: asyncio.Queue[int] = asyncio.Queue(1)
                i = g * GROUP + k
                group.create_task(worker(i, rounds, a, b, events, k == 0), name=f"worker-{i}")
                group.create_task(worker(i + 1, rounds, b, a, events, False),
                                  name=f"worker-{i + 1}")  # fmt: skip


def record(path: str, tasks: int, rounds: int) -> float:
    """Record the program into `path`; returns how long it ran, wall seconds."""
    t0 = time.perf_counter()
    with visualizer.record(path), asyncio.Runner(loop_factory=visualizer.loop_factory) as runner:
        runner.run(program(tasks, rounds))
    return time.perf_counter() - t0


# -- figures ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.1f} ms"


def verdict(ratio: float, quick: bool) -> str:
    words = "within budget" if ratio <= 1 else "OVER BUDGET"
    return words + (" (a --quick smoke run: too small to judge by)" if quick else "")


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of `fn()`, and what it returned."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    t1, c1 = time.perf_counter(), time.process_time()
    return t1 - t0, c1 - c0, result


def cursor_times(model: Model) -> tuple[list[int], list[int]]:
    """Random jumps over the whole run, and small forward moves from its middle."""
    start, end = model.start or 0, model.end
    rng = random.Random(SEED)
    jumps = [rng.randrange(start, end) for _ in range(JUMPS)]
    step = max(1, (end - start) // STEP_FRACTION)
    middle = start + (end - start) // 2
    return jumps, [middle + k * step for k in range(1, MOVES + 1)]


# -- 2. open ---------------------------------------------------------------------------------


def measure_open(path: str, repeat: int, quick: bool) -> Model:
    walls, cpus = [], []
    model: Model | None = None
    for _ in range(repeat):
        model = None  # the last model's memory back first
        gc.collect()
        wall, cpu, model = timed(lambda: Model.load(path))
        walls.append(wall)
        cpus.append(cpu)
    assert model is not None
    n = model.records
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    budget = OPEN_BUDGET * n / OPEN_RECORDS
    print(f"  open     Model.load (read + replay), median of {repeat}: {wall:.3f} s wall, "
          f"{cpu:.3f} s CPU, {n / wall:,.0f} records/s")  # fmt: skip
    if repeat > 1:
        print(f"           runs: {', '.join(f'{w:.3f}' for w in walls)} s wall")
    ratio = wall / budget
    print(f"    budget <= {OPEN_BUDGET:.0f} s per {OPEN_RECORDS:,} records "
          f"(here {budget:.3f} s): {ratio:.2f}x, {verdict(ratio, quick)}")  # fmt: skip
    return model


# -- 3. the time cursor on the model -----------------------------------------------------------


def measure_cursor(path: str, model: Model, quick: bool) -> None:
    start, end = model.start or 0, model.end
    middle = start + (end - start) // 2
    fresh = Model.load(path)
    gc.collect()
    cold, cold_cpu, snapshot = timed(partial(fresh.at, middle))
    fresh = Model.load(path)
    gc.collect()
    prepared, _, _ = timed(partial(warm_all, fresh))
    after_warm, after_cpu, _ = timed(partial(fresh.at, middle))
    del fresh
    jumps, moves = cursor_times(model)
    gc.collect()
    model.at(middle)  # as after the cold call: running sums made, no snapshot kept warm
    jump_times = [timed(partial(model.at, t))[0] for t in jumps]
    model.at(moves[0] - (moves[1] - moves[0]))
    move_times = [timed(partial(model.at, t))[0] for t in moves]
    step = moves[1] - moves[0]
    print(f"  cursor   model.at(t), a snapshot of {len(snapshot.tasks):,} tasks "
          f"(the run lasted {(end - start) / 1e9:.2f} s)")  # fmt: skip
    print(f"    cold (first call on a fresh model)   {ms(cold)}  ({cold_cpu * 1e3:.1f} ms CPU: "
          f"every task's running sums made; the viewer makes them in the background "
          f"once the trace is read, in {ms(prepared).strip()} here)")  # fmt: skip
    rows = [
        ("first call once prepared", after_warm, f"{after_cpu * 1e3:.1f} ms CPU"),
        (f"random jumps, median of {JUMPS}", statistics.median(jump_times),
         f"max {max(jump_times) * 1e3:.1f} ms"),
        (f"small moves ({step / 1e6:.2f} ms), median", statistics.median(move_times),
         f"max {max(move_times) * 1e3:.1f} ms"),
    ]  # fmt: skip
    for name, seconds, note in rows:
        ratio = seconds / REDRAW_BUDGET
        print(f"    {name:36} {ms(seconds)}  {ratio:5.2f}x budget  ({note})")
    worst = max(seconds for _, seconds, _ in rows) / REDRAW_BUDGET
    print(f"    budget <= {REDRAW_BUDGET * 1e3:.0f} ms: worst of these {worst:.2f}x, "
          f"{verdict(worst, quick)}")  # fmt: skip


def warm_all(model: Model) -> None:
    """What the viewer's session does once a trace is read (Session._warm), all at once."""
    done = 0
    while done < len(model.tasks):
        done = model.warm_time_travel(done, 500)


# -- 4. a cursor move in the viewer ------------------------------------------------------------


@dataclass
class Move:
    """One cursor move in the viewer, by part, in seconds."""

    snapshot: float  # model.at(t)
    tick: float  # the rest of app.tick(): header, loop pane, output, the table's rows
    table: float  # every line of the tasks table
    screen: float  # the full-screen paint (compositor + terminal sequences), the table in it

    @property
    def total(self) -> float:
        return self.snapshot + self.tick + self.table + self.screen


def move(app: LoopvizApp, table: Table, t: int) -> Move:
    app.session.cursor = t
    t0 = time.perf_counter()
    app.session.model.at(t)  # what tick asks first; it gets the same snapshot again
    t1 = time.perf_counter()
    app.tick()
    t2 = time.perf_counter()
    for y in range(table.size.height):
        table.render_line(y)
    t3 = time.perf_counter()
    screen = app.screen
    update = screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    if update is not None:
        update.render_segments(app.console)
    t4 = time.perf_counter()
    return Move(t1 - t0, t2 - t1, t3 - t2, t4 - t3)


async def measure_app(
    path: str, records: int, jumps: Sequence[int], moves: Sequence[int]
) -> dict[str, Any]:
    app = LoopvizApp(Session(path, None))
    async with app.run_test(size=SIZE) as pilot:
        t0 = time.perf_counter()
        while app.session.model.records < records and not app.session.finished:
            await pilot.pause(0.02)
        loaded = time.perf_counter() - t0  # every record in the model the views show
        while not app.session.finished:
            await pilot.pause(0.02)
        opened = time.perf_counter() - t0  # and the warning rules run over it
        if app.session.error:
            raise SystemExit(f"open: the viewer could not read the trace: {app.session.error}")
        while not app.session.warmed:  # the views work meanwhile; time travel is ready after
            await pilot.pause(0.02)
        warmed = time.perf_counter() - t0
        await pilot.pause()
        table = app.query_one("#tasks", Table)
        first = move(app, table, moves[0] - (moves[1] - moves[0]))
        await pilot.pause()
        small = []
        for t in moves[:APP_MOVES]:
            small.append(move(app, table, t))
            await pilot.pause()  # let the app do what it does between keys (untimed)
        random_jumps = []
        for t in jumps[:APP_MOVES]:
            random_jumps.append(move(app, table, t))
            await pilot.pause()
        shown = len(table.displayed_rows)
    return {"loaded": loaded, "opened": opened, "warmed": warmed, "first": first, "small": small,
            "jumps": random_jumps, "shown": shown}  # fmt: skip


def median_move(moves: Sequence[Move]) -> Move:
    return Move(
        statistics.median(m.snapshot for m in moves),
        statistics.median(m.tick for m in moves),
        statistics.median(m.table for m in moves),
        statistics.median(m.screen for m in moves),
    )


def report_app(result: dict[str, Any], records: int, quick: bool) -> None:
    opened = result["opened"]
    budget = OPEN_BUDGET * records / OPEN_RECORDS
    print(f"  viewer   LoopvizApp headless at {SIZE[0]}x{SIZE[1]}, "
          f"{result['shown']:,} rows in the tasks table")  # fmt: skip
    loaded = result["loaded"]
    print(f"    its session had every record in the views after {loaded:.2f} s wall (polled "
          f"every 20 ms; {loaded / budget:.2f}x the open budget), the warnings at "
          f"{opened:.2f} s, and every task ready for time travel at {result['warmed']:.2f} s "
          f"(summed in the background, the views live)")  # fmt: skip
    print(f"    {'cursor move':28}{'snapshot':>10}{'tick rest':>11}{'table':>9}{'screen':>9}"
          f"{'total':>9}{'budget':>9}")  # fmt: skip
    rows = [
        ("first move", result["first"]),
        (f"small moves, median of {len(result['small'])}", median_move(result["small"])),
        (f"random jumps, median of {len(result['jumps'])}", median_move(result["jumps"])),
    ]
    for name, m in rows:
        print(f"    {name:28}{m.snapshot * 1e3:8.1f}ms{m.tick * 1e3:9.1f}ms{m.table * 1e3:7.1f}ms"
              f"{m.screen * 1e3:7.1f}ms{m.total * 1e3:7.1f}ms"
              f"{m.total / REDRAW_BUDGET:8.2f}x")  # fmt: skip
    worst_small = max(m.total for m in result["small"])
    worst_jump = max(m.total for m in result["jumps"])
    print(
        f"    worst: small move {worst_small * 1e3:.1f} ms, random jump {worst_jump * 1e3:.1f} ms"
    )
    ratio = max(rows[1][1].total, rows[2][1].total) / REDRAW_BUDGET
    print(f"    budget <= {REDRAW_BUDGET * 1e3:.0f} ms per move (medians): {ratio:.2f}x, "
          f"{verdict(ratio, quick)}")  # fmt: skip


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, help="tasks in the program (default 10,000)")
    parser.add_argument("--rounds", type=int, default=38, help="rounds per task (default 38)")
    parser.add_argument("--repeat", type=int, default=3, help="timed loads (median kept)")
    parser.add_argument("--quick", action="store_true", help="20x fewer tasks, one timed load")
    args = parser.parse_args(argv)
    tasks = args.tasks or (500 if args.quick else 10_000)
    tasks = max(GROUP, tasks - tasks % GROUP)
    repeat = 1 if args.quick else max(1, args.repeat)
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print(f"open: a big trace opened and browsed in time, {impl}")
    with tempfile.TemporaryDirectory(prefix="loopviz-open-") as tmp:
        path = os.path.join(tmp, "open.lvtrace")
        took = record(path, tasks, args.rounds)
        gc.collect()
        print(f"  program  {tasks:,} tasks x {args.rounds} rounds of sleep(0), Queue ping-pong "
              f"and Event (recorded in {took:.2f} s)")  # fmt: skip
        model = measure_open(path, repeat, args.quick)
        steps = sum(len(task.steps) for task in model.tasks)
        print(f"           {model.records:,} records, {os.path.getsize(path) / 1e6:.1f} MB, "
              f"{len(model.tasks):,} tasks, {steps:,} steps")  # fmt: skip
        measure_cursor(path, model, args.quick)
        jumps, moves = cursor_times(model)
        records = model.records
        del model
        gc.collect()
        report_app(asyncio.run(measure_app(path, records, jumps, moves)), records, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
