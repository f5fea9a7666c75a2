"""Viewer ingest: a trace file replayed into the model (`read_trace` + `Model.feed`).

Run ``python benchmarks/ingest.py [--trace FILE ...] [--repeat N] [--quick]``.
Without ``--trace`` it records two programs into temporary trace files first: the sleep(0)
storm of sleep0.py (1,000 tasks x 100 ``await asyncio.sleep(0)``: nearly every record is a task
step) and the loopback echo server of echo.py (100 clients x 100 round trips: I/O callbacks
waking tasks). For each trace it prints records per second end to end, best of N runs in CPU
time (decoding alone beside it, for what the model adds), and the model's memory per record
(tracemalloc, in a separate untimed run), against the budget of DESIGN.md: ingest >= 1,000,000
records/s and <= 100 bytes per record. It never fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

import echo  # benchmarks/ is sys.path[0] when this runs as a script
import sleep0

import visualizer
from visualizer.model import Model
from visualizer.trace.reader import read_trace, records

RATE_BUDGET = 1_000_000  # records per second, at least
MEMORY_BUDGET = 100  # bytes per record, at most


def record(path: str, main: Coroutine[Any, Any, Any]) -> None:
    with visualizer.record(path), asyncio.Runner(loop_factory=visualizer.loop_factory) as runner:
        runner.run(main)


def workloads(quick: bool) -> dict[str, Callable[[], Coroutine[Any, Any, Any]]]:
    """The programs to record, by the name printed for them."""
    tasks, steps = (200, 20) if quick else (1_000, 100)
    clients, rounds = (20, 20) if quick else (100, 100)
    storm = argparse.Namespace(tasks=tasks, steps=steps)
    echoes = argparse.Namespace(clients=clients, rounds=rounds, size=100)
    return {
        f"storm: {tasks:,} tasks x {steps} sleep(0)": lambda: sleep0.storm(storm),
        f"echo: {clients} clients x {rounds} round trips": lambda: echo.echo(echoes),
    }


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def model_bytes(path: str) -> int:
    """What the model of a trace holds once every batch is fed (the batches themselves not)."""
    batches = read_trace(path).batches
    gc.collect()
    tracemalloc.start()
    try:
        model = Model()
        model.feed_all(batches)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del model
    return held


def verdict(ok: bool) -> str:
    return "within budget" if ok else "OVER BUDGET"


def measure(name: str, path: str, repeat: int) -> None:
    n = sum(len(records(batch)) for batch in read_trace(path).batches)
    ingest = best_of(lambda: Model().feed_all(read_trace(path).batches), repeat)
    decode = best_of(lambda: [records(batch) for batch in read_trace(path).batches], repeat)
    rate, per_record = n / ingest, model_bytes(path) / n
    print(f"  {name}: {n:,} records, {os.path.getsize(path) / 1e6:.1f} MB")
    print(
        f"    ingest   {ingest:.3f} s CPU, {rate:,.0f} records/s "
        f"(decoding alone {n / decode:,.0f} records/s, {decode / ingest:.0%} of the time)"
    )
    print(f"    memory   {per_record:.1f} bytes/record held by the model")
    print(
        f"    budget   >= {RATE_BUDGET:,} records/s: {rate / RATE_BUDGET:.2f}x, "
        f"{verdict(rate >= RATE_BUDGET)}; <= {MEMORY_BUDGET} bytes/record: "
        f"{per_record / MEMORY_BUDGET:.2f}x, {verdict(per_record <= MEMORY_BUDGET)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="append", help="a trace file to measure (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per trace (best kept)")
    parser.add_argument("--quick", action="store_true", help="small programs, two timed runs")
    args = parser.parse_args(argv)
    repeat = min(args.repeat, 2) if args.quick else args.repeat
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print(f"ingest: trace file -> model (read_trace + Model.feed), {impl}, best of {repeat}")
    if args.trace:
        for path in args.trace:
            measure(path, path, repeat)
        return 0
    with tempfile.TemporaryDirectory(prefix="loopviz-ingest-") as tmp:
        for n, (name, program) in enumerate(workloads(args.quick).items()):
            path = os.path.join(tmp, f"{n}.lvtrace")
            record(path, program())
            measure(name, path, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
