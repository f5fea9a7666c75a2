"""Redraw cost of the timeline: a zoom or a pan, plus drawing one full screen.

Builds synthetic task lanes (10,000 lanes of 100 spans: 1M spans over 10 s of trace), a loop
lane on top (200,000 busy/select spans) and a ready-queue counter, mounts the timeline in a
headless 200x60 app, zooms to a sixteenth of the trace, then repeatedly
(a) moves the cursor somewhere random and zooms in or out around it, and (b) pans by an eighth
of the window, each followed by rendering every line of the widget through its own
``render_lines`` (what the compositor calls). Windows never repeat, so no drawn line comes from
the cache. Prints the medians against the design's budget of 50 ms as a ratio. Exits 0 whatever
the ratio.

    python benchmarks/timeline.py [--lanes N] [--spans N] [--loop-spans N] [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.app import App, ComposeResult

from visualizer.model import State
from visualizer.tui.widgets.timeline import LOOP_PALETTE, Counter, Lane, LoopPhase, Timeline

BUDGET_MS = 50.0
SIZE = (200, 60)
TRACE_NS = 10_000_000_000
WAITS = (State.WAITING, State.WAITING_IO, State.SLEEPING)


def fake_lane(key: int, spans: int, rng: random.Random) -> Lane:
    """A task's life: created somewhere in the first tenth, then ready, running, waiting,
    ready... with short steps and long waits, to the end of the trace."""
    begin, end, code = array("q"), array("q"), array("q")
    t = rng.randrange(TRACE_NS // 10)
    mean_wait = (TRACE_NS - t) // spans
    for i in range(spans):
        state = (State.READY, State.RUNNING, rng.choice(WAITS))[i % 3]
        if state == State.RUNNING:
            length = rng.randrange(1_000, 2_000_000)
        elif state == State.READY:
            length = rng.randrange(1_000, 500_000)
        else:
            length = int(rng.expovariate(1 / mean_wait)) + 1
        begin.append(t)
        end.append(t + length)
        code.append(state)
        t += length
    return Lane(key, f"Task-{key} worker_{key % 7}()", begin, end, code)


def fake_loop_lane(spans: int, rng: random.Random) -> Lane:
    """A loop over the whole trace: iterations that run handles, then wait in select."""
    begin, end, code = array("q"), array("q"), array("q")
    mean = TRACE_NS // spans
    t = 0
    for i in range(spans):
        busy = i % 2 == 0
        length = rng.randrange(1, mean) if busy else rng.randrange(1, 2 * mean)
        begin.append(t)
        end.append(t + length)
        code.append(LoopPhase.BUSY if busy else LoopPhase.SELECT)
        t += length + rng.randrange(0, 1_000)  # the loop's own bookkeeping between
    return Lane("loop", "event loop", begin, end, code, LOOP_PALETTE)


def fake_counter(rng: random.Random) -> Counter:
    """A ready-queue length sampled every 100 µs."""
    times = array("q", range(0, TRACE_NS, 100_000))
    return Counter("ready", times, array("q", (rng.randrange(20) for _ in times)))


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Timeline()


@dataclass
class Timings:
    """Milliseconds per run, wall and CPU time (a machine busy with other work inflates wall
    time much more than CPU time)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def time(self, action: Callable[[], object]) -> None:
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        action()
        c1, t1 = time.process_time(), time.perf_counter()
        self.wall.append((t1 - t0) * 1e3)
        self.cpu.append((c1 - c0) * 1e3)


@dataclass
class Results:
    build_s: float  # making the lanes (the benchmark's own cost, not the widget's)
    set_lanes: Timings
    zoom: Timings
    pan: Timings


async def measure(lanes_n: int, spans: int, loop_spans: int, repeat: int) -> Results:
    rng = random.Random(1)
    t0 = time.perf_counter()
    lanes = [fake_loop_lane(loop_spans, rng)] if loop_spans else []
    lanes += [fake_lane(key, spans, rng) for key in range(lanes_n)]
    counters = [fake_counter(rng)]
    results = Results(time.perf_counter() - t0, Timings(), Timings(), Timings())
    app = BenchApp()
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        timeline.focus()
        region = timeline.size.region

        def draw() -> None:
            strips = timeline.render_lines(region)
            assert len(strips) == region.height

        def load() -> None:
            timeline.set_lanes(lanes, counters, 0, TRACE_NS)
            draw()

        results.set_lanes.time(load)
        await pilot.pause()
        timeline.zoom(16)
        await pilot.pause()
        for i in range(repeat):
            start, end = timeline.window
            timeline.cursor = rng.randrange(start, end)

            def zoom(factor: float = 2.0 if i % 2 == 0 else 0.5) -> None:
                timeline.zoom(factor)
                draw()

            results.zoom.time(zoom)
            await pilot.pause()
        for i in range(repeat):

            def pan(steps: int = 1 if (i // 32) % 2 == 0 else -1) -> None:
                timeline.action_pan(steps)
                draw()

            results.pan.time(pan)
            await pilot.pause()
    return results


def report(what: str, timings: Timings) -> None:
    wall, cpu = statistics.median(timings.wall), statistics.median(timings.cpu)
    ratio = wall / BUDGET_MS
    verdict = "within budget" if ratio <= 1 else "OVER BUDGET"
    print(
        f"  {what}: median of {len(timings.wall)} {wall:.1f} ms wall "
        f"(min {min(timings.wall):.1f}, max {max(timings.wall):.1f}), {cpu:.1f} ms CPU; "
        f"budget <= {BUDGET_MS:.0f} ms: ratio {ratio:.2f}x wall ({cpu / BUDGET_MS:.2f}x CPU), "
        f"{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=10_000)
    parser.add_argument("--spans", type=int, default=100, help="spans per lane")
    parser.add_argument("--loop-spans", type=int, default=200_000, help="0: no loop lane")
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of each kind")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    args = parser.parse_args(argv)
    if args.quick:
        args.lanes, args.loop_spans, args.repeat = 500, 5_000, min(args.repeat, 3)
    print(f"{sys.implementation.name} {sys.version.split()[0]}")
    results = asyncio.run(measure(args.lanes, args.spans, args.loop_spans, args.repeat))
    print(
        f"timeline: {args.lanes:,} lanes x {args.spans} spans ({args.lanes * args.spans:,} spans), "
        f"a loop lane of {args.loop_spans:,} spans and a counter, {SIZE[0]}x{SIZE[1]} "
        f"(lanes built in {results.build_s:.1f} s)"
    )
    load = results.set_lanes
    print(f"  set_lanes + first full draw: {load.wall[0]:.1f} ms wall, {load.cpu[0]:.1f} ms CPU")
    report("zoom + full redraw", results.zoom)
    report("pan + full redraw", results.pan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
