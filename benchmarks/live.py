"""The live viewer under load: a program producing a few hundred thousand records a second.

Run ``python benchmarks/live.py [--seconds 10] [--tasks 200]``.

The program spins `--tasks` tasks on ``await asyncio.sleep(0)`` for `--seconds` seconds and
prints how many steps it made. It runs twice: under ``loopviz record`` (trace file alone) and
under the viewer (the real app, headless, following the growing file, redrawing four times a
second). While the viewer runs, a key is posted every 200 ms, as the terminal driver does, and
the time until its action took effect is measured; so is the lag: how far the model's newest
record is behind the program's clock (both CLOCK_MONOTONIC). Prints:

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
import json
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

async def spin(start, deadline, per_second, counts):
    n = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
        n += 1
        if per_second and n % 50 == 0:
            ahead = start + n / per_second - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    counts.append(n)

async def main(seconds, tasks, rate):
    counts = []
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(spin(start, deadline, rate / tasks, counts) for _ in range(tasks)))
    print(sum(counts))

asyncio.run(main(float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
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
         str(args.seconds), str(args.tasks), "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


async def watched(
    script: Path, args: argparse.Namespace, workdir: str, rate: float
) -> dict[str, float]:
    """One run under the viewer, the program paced to about `rate` steps/s (0: flat out)."""
    trace = os.path.join(workdir, f"watched-{rate:.0f}.lvtrace")
    program = Program([str(script), str(args.seconds), str(args.tasks), str(rate)], None, trace)
    session = Session(trace, program, title="spin")
    app = LoopvizApp(session)
    latencies: list[float] = []
    lags: list[tuple[float, float]] = []
    rss_before = _rss()
    started = time.monotonic()
    async with app.run_test(size=(160, 48)):
        table = app.query_one("#tasks", Table)
        while session.status is None or not session.finished:
            before = table.sort_reverse
            t0 = time.perf_counter()
            # The path a terminal key takes (Pilot.press would also wait for the process to go
            # idle, up to 2 s, which a viewer under load never does).
            app.simulate_key("i")
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
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _output_lines(session: Session) -> list[tuple[int, int, str]]:
    lines = []
    for chunk in session.model.output:
        for line in chunk.text.splitlines():
            lines.append((chunk.t, chunk.stream, line))
    return lines


def _report(title: str, result: dict[str, float], seconds: float) -> None:
    print(title)
    print(f"  records: {result['records']:,.0f} ({result['rate']:,.0f} records/s)")
    print(f"  key handling: median {result['latency_median'] * 1e3:.1f} ms, "
          f"max {result['latency_max'] * 1e3:.1f} ms (budget 100 ms: "
          f"{result['latency_max'] / 0.1:.2f}x)")  # fmt: skip
    print(f"  lag behind the program: max {result['lag_max']:.2f} s (first half "
          f"{result['lag_first_half']:.2f} s), at the end {result['lag_end']:.2f} s; "
          f"viewer done {result['catch_up']:.2f} s after the program's {seconds:g} s")  # fmt: skip
    print(f"  viewer memory: {result['bytes_per_record']:.0f} bytes/record (RSS growth; "
          f"budget 100: {result['bytes_per_record'] / 100:.2f}x), peak RSS "
          f"{result['peak_rss'] / 2**20:.0f} MB")  # fmt: skip
    print(f"  the model saw {result['model_steps']:,} steps; the program counted "
          f"{result['program_steps']:,} (plus each task's first step)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=300_000, help="paced steps per second")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # a child: one watched run
    args = parser.parse_args(argv)
    if args.one is not None:
        with tempfile.TemporaryDirectory() as workdir:
            script = Path(workdir) / "spin.py"
            script.write_text(textwrap.dedent(PROGRAM))
            print(json.dumps(asyncio.run(watched(script, args, workdir, args.one))))
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        script = Path(workdir) / "spin.py"
        script.write_text(textwrap.dedent(PROGRAM))
        print(f"workload: {args.tasks} tasks on sleep(0) for {args.seconds:g} s")
        steps_alone = alone(script, args, workdir)
        paced = _in_child(args, args.rate)
        flat_out = _in_child(args, 0)
    _report(f"paced to about {args.rate:,.0f} steps/s, viewer attached:", paced, args.seconds)
    _report("flat out, viewer attached:", flat_out, args.seconds)
    print(f"recorder cost of being watched: program steps alone {steps_alone:,}, watched "
          f"{flat_out['program_steps']:,.0f}: "
          f"{steps_alone / max(1, flat_out['program_steps']):.2f}x")  # fmt: skip
    return 0


def _in_child(args: argparse.Namespace, rate: float) -> dict[str, float]:
    """One watched run in a fresh process, so memory figures don't share an allocator."""
    done = subprocess.run(
        [sys.executable, __file__, "--seconds", str(args.seconds), "--tasks", str(args.tasks),
         "--one", str(rate)],
        stdout=subprocess.PIPE, text=True, check=True,  # its stderr goes on: a failure shows
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
