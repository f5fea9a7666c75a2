"""The live viewer under load: a program producing a few hundred thousand records a second.

Run ``python benchmarks/live.py [--seconds 10] [--tasks 200]``.

The program spins `--tasks` tasks on ``await asyncio.sleep(0)`` for `--seconds` seconds and
prints how many steps it made. It runs twice: under ``loopviz record`` (trace file alone) and
under the viewer (the real app, headless, following the growing file, redrawing four times a
second). While the viewer runs, a key is pressed every 200 ms and the time until its action
took effect is measured, and so is the lag: how far the model's newest record is behind the
program's clock (both CLOCK_MONOTONIC). Prints:

- the records/s the program produced with the viewer attached;
- key handling latency (median, max; budget < 100 ms);
- lag at the end and its maximum (bounded: it must not grow with time);
- viewer memory per record (RSS growth / records; DESIGN budget <= 100 bytes);
- the program's steps with the viewer vs alone (recorder cost of being watched).

No assertion on times: it prints figures and ratios, and exits 0 unless a run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from visualizer.runner import Program
from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session
from visualizer.tui.widgets.table import Table

PROGRAM = """
import asyncio, sys, time

async def spin(deadline, counts):
    n = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
        n += 1
    counts.append(n)

async def main(seconds, tasks):
    counts = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(spin(deadline, counts) for _ in range(tasks)))
    print(sum(counts))

asyncio.run(main(float(sys.argv[1]), int(sys.argv[2])))
"""


def _rss() -> int:
    """This process's resident set size now, in bytes (Linux)."""
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def alone(script: Path, args: argparse.Namespace, workdir: str) -> int:
    """Steps made under `loopviz record`, trace to a file, nobody reading it."""
    trace = os.path.join(workdir, "alone.lvtrace")
    done = subprocess.run(
        [sys.executable, "-m", "visualizer", "record", "-q", "-o", trace, str(script),
         str(args.seconds), str(args.tasks)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


async def watched(script: Path, args: argparse.Namespace, workdir: str) -> dict[str, float]:
    trace = os.path.join(workdir, "watched.lvtrace")
    program = Program([str(script), str(args.seconds), str(args.tasks)], None, trace)
    session = Session(trace, program, title="spin")
    app = LoopvizApp(session)
    latencies: list[float] = []
    lags: list[tuple[float, float]] = []
    rss_before = _rss()
    started = time.monotonic()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one("#tasks", Table)
        while session.status is None or not session.finished:
            before = table.sort_reverse
            t0 = time.perf_counter()
            await pilot.press("i")
            while table.sort_reverse == before and time.perf_counter() - t0 < 5:
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - t0)
            with session.lock:
                newest = session.model.end
            if session.status is None and newest:
                lags.append((time.monotonic() - started, (time.perf_counter_ns() - newest) / 1e9))
            await asyncio.sleep(0.2)
        records = session.model.records
        rss_after = _rss()
        steps = sum(len(task.steps) for task in session.model.tasks)
    session.close()
    program_steps = int(next(line for _, _, line in _output_lines(session) if line.isdigit()))
    elapsed = time.monotonic() - started
    return {
        "records": records,
        "rate": records / args.seconds,
        "latency_median": statistics.median(latencies),
        "latency_max": max(latencies),
        "lag_max": max((lag for _, lag in lags), default=0.0),
        "lag_end": lags[-1][1] if lags else 0.0,
        "lag_first_half": max((lag for t, lag in lags if t < args.seconds / 2), default=0.0),
        "bytes_per_record": (rss_after - rss_before) / max(1, records),
        "program_steps": program_steps,
        "model_steps": steps,
        "catch_up": elapsed - args.seconds,
    }


def _output_lines(session: Session) -> list[tuple[int, int, str]]:
    lines = []
    for chunk in session.model.output:
        for line in chunk.text.splitlines():
            lines.append((chunk.t, chunk.stream, line))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        script = Path(workdir) / "spin.py"
        script.write_text(textwrap.dedent(PROGRAM))
        print(f"workload: {args.tasks} tasks on sleep(0) for {args.seconds:g} s")
        steps_alone = alone(script, args, workdir)
        result = asyncio.run(watched(script, args, workdir))
    print(f"records with the viewer attached: {result['records']:,.0f} "
          f"({result['rate']:,.0f} records/s)")  # fmt: skip
    print(f"key handling: median {result['latency_median'] * 1e3:.1f} ms, "
          f"max {result['latency_max'] * 1e3:.1f} ms (budget 100 ms: "
          f"{result['latency_max'] / 0.1:.2f}x)")  # fmt: skip
    print(f"lag behind the program: max {result['lag_max']:.2f} s (first half "
          f"{result['lag_first_half']:.2f} s), at the end {result['lag_end']:.2f} s; "
          f"done {result['catch_up']:.2f} s after the program's {args.seconds:g} s")  # fmt: skip
    print(f"viewer memory: {result['bytes_per_record']:.0f} bytes/record (RSS growth; budget 100: "
          f"{result['bytes_per_record'] / 100:.2f}x)")  # fmt: skip
    print(f"program steps alone {steps_alone:,}, watched {result['program_steps']:,}: "
          f"being watched costs {steps_alone / max(1, result['program_steps']):.2f}x")  # fmt: skip
    print(f"model saw {result['model_steps']:,} steps "
          f"(program counted {result['program_steps']:,} sleeps + first steps)")  # fmt: skip
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"viewer peak RSS {maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
