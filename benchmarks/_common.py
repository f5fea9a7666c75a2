"""Shared machinery for the recording-overhead benchmarks (sleep0.py, echo.py).

Each benchmark script runs in two roles:

- **parent** (what you start): runs the workload in fresh child processes, alternating plain
  asyncio and recorded-to-a-file, one plain + one recorded run per pair, and prints medians and
  ratios measured in this one run. It never asserts on time: it says whether the ratio is within
  the budget and exits 0 either way (non-zero only when a child fails).
- **child** (``--child plain|recorded``): builds the event loop, times ``runner.run(...)`` with
  ``perf_counter`` (and its CPU time with ``process_time``, which a busy machine disturbs less)
  and prints one JSON line. The parent also times the whole child process.

The plain child never imports ``visualizer``: the import cost is part of what recording costs
(whole-process column). The recorded child runs the watchdog thread too, as ``loopviz record``,
``run`` and ``step`` do (``LOOPVIZ_BENCH_NO_WATCHDOG=1`` leaves it out, to measure what it
costs). Both sides get the same environment, with bytecode cached in a temporary directory so
that neither compiles its modules on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

PLAIN = "plain"
RECORDED = "recorded"

# glibc's default malloc can mmap/munmap per receive buffer on loopback I/O, which swamps what
# the recorder costs (see ASYNCIO-NOTES.md, "Benchmarking traps"): pin it on both sides.
GLIBC_PIN = "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432"

Workload = Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]


# -- child side ----------------------------------------------------------------------------


def run_child(mode: str, trace: str | None, workload: Workload, args: argparse.Namespace) -> None:
    """Run `workload(args)` once on a plain or a recording loop and print the timing as JSON."""
    if mode == PLAIN:
        elapsed, cpu = _timed_run(asyncio.SelectorEventLoop, workload, args)
    else:
        if trace is None:
            raise SystemExit("--child recorded needs --trace PATH")
        import visualizer
        from visualizer.recorder.watchdog import Watchdog

        with visualizer.record(trace) as recording:
            watchdog = Watchdog(recording.recorder)  # as under loopviz record/run/step
            if not os.environ.get("LOOPVIZ_BENCH_NO_WATCHDOG"):  # to measure the watchdog
                watchdog.start()
            elapsed, cpu = _timed_run(visualizer.loop_factory, workload, args)
            watchdog.stop()
    print(json.dumps({"mode": mode, "seconds": elapsed, "cpu": cpu}), flush=True)


def _timed_run(
    factory: Callable[[], asyncio.AbstractEventLoop], workload: Workload, args: argparse.Namespace
) -> tuple[float, float]:
    with asyncio.Runner(loop_factory=factory) as runner:
        c0 = time.process_time()
        t0 = time.perf_counter()
        runner.run(workload(args))
        t1 = time.perf_counter()
        c1 = time.process_time()
    return t1 - t0, c1 - c0


# -- parent side ---------------------------------------------------------------------------


@dataclass
class Samples:
    """Per-pair timings in seconds: runner.run's wall and CPU time, the whole process's wall."""

    inner: dict[str, list[float]] = field(default_factory=lambda: {PLAIN: [], RECORDED: []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {PLAIN: [], RECORDED: []})
    wall: dict[str, list[float]] = field(default_factory=lambda: {PLAIN: [], RECORDED: []})


class ChildFailed(Exception):
    pass


def _run_one(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise ChildFailed(
            f"child {' '.join(cmd[1:])!s} exited with {proc.returncode}:\n"
            f"{proc.stdout}{proc.stderr}"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], result["cpu"], wall


def run_pairs(
    child_cmd: Callable[[str], list[str]],
    pairs: int,
    env: dict[str, str],
    progress: bool = True,
) -> Samples:
    """Run `pairs` (plain, recorded) pairs of child processes, alternating; one warm-up pair
    first (not counted) so both sides start from a warm page cache and compiled bytecode."""
    samples = Samples()
    for mode in (PLAIN, RECORDED):
        _run_one(child_cmd(mode), env)
    for i in range(pairs):
        for mode in (PLAIN, RECORDED):
            inner, cpu, wall = _run_one(child_cmd(mode), env)
            samples.inner[mode].append(inner)
            samples.cpu[mode].append(cpu)
            samples.wall[mode].append(wall)
        if progress:
            p, r = samples.inner[PLAIN][-1], samples.inner[RECORDED][-1]
            print(
                f"  pair {i + 1}/{pairs}: plain {p:.3f} s, recorded {r:.3f} s, {r / p:.2f}x",
                file=sys.stderr,
                flush=True,
            )
    return samples


@dataclass
class TraceStats:
    records: int
    size: int
    kinds: Counter[str]

    @property
    def bytes_per_record(self) -> float:
        return self.size / self.records if self.records else float("nan")


def trace_stats(path: str) -> TraceStats:
    """Count the records of a trace file (all sources), by kind, and its size on disk."""
    from visualizer.trace import reader, schema

    trace = reader.read_trace(path)
    if trace.truncated:
        print(f"warning: {path} is cut short", file=sys.stderr)
    kinds: Counter[str] = Counter()
    for batch in trace.batches:
        for record in reader.records(batch):
            kinds[schema.Kind(record[0]).name] += 1
    return TraceStats(sum(kinds.values()), os.path.getsize(path), kinds)


def child_env(pin_malloc: bool, pycache: str) -> dict[str, str]:
    """The environment of both sides: the same for plain and recorded runs.

    Bytecode is cached in `pycache` (a temporary directory, never the source tree), also when
    PYTHONDONTWRITEBYTECODE is set: otherwise every recorded process would compile the recorder
    from source, and whole-process times would measure the compiler.
    """
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)  # debug mode costs ~23x: never measure it by accident
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    if pin_malloc:
        env["GLIBC_TUNABLES"] = GLIBC_PIN
    return env


def base_parser(description: str, default_pairs: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--pairs",
        type=int,
        default=default_pairs,
        help=f"plain/recorded pairs to run (default {default_pairs})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run: few pairs, small sizes"
    )
    parser.add_argument("--child", choices=(PLAIN, RECORDED), help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    return parser


def _medians(plain: Sequence[float], recorded: Sequence[float]) -> tuple[float, float, float]:
    p, r = statistics.median(plain), statistics.median(recorded)
    return p, r, r / p


def report(
    name: str,
    workload: str,
    samples: Samples,
    stats: TraceStats,
    budget: float,
    env_note: str = "",
    quick: bool = False,
) -> None:
    """Print medians, ratios, the trace's size and the budget verdict (on the in-process ratio)."""
    pairs = len(samples.inner[PLAIN])
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print(f"{name}: {workload}")
    print(
        f"  {impl}; {pairs} alternating plain/recorded pairs, each run in its own process"
        + (f"; {env_note}" if env_note else "")
    )
    ratios = [r / p for p, r in zip(samples.inner[PLAIN], samples.inner[RECORDED], strict=True)]
    ip, ir, iratio = _medians(samples.inner[PLAIN], samples.inner[RECORDED])
    cp, cr, cratio = _medians(samples.cpu[PLAIN], samples.cpu[RECORDED])
    wp, wr, wratio = _medians(samples.wall[PLAIN], samples.wall[RECORDED])
    print(f"  {'median':32}{'plain':>10}{'recorded':>11}{'ratio':>8}")
    print(f"  {'runner.run, wall (in-process)':32}{ip:>9.3f}s{ir:>10.3f}s{iratio:>7.2f}x")
    print(f"  {'runner.run, CPU time':32}{cp:>9.3f}s{cr:>10.3f}s{cratio:>7.2f}x")
    print(f"  {'whole process, wall':32}{wp:>9.3f}s{wr:>10.3f}s{wratio:>7.2f}x")
    spread = ", ".join(f"{x:.2f}" for x in sorted(ratios))
    print(f"  per-pair in-process ratio: median {statistics.median(ratios):.2f}x ({spread})")
    kinds = ", ".join(f"{k} {n:,}" for k, n in stats.kinds.most_common(6))
    print(
        f"  trace: {stats.records:,} records, {stats.size:,} bytes, "
        f"{stats.bytes_per_record:.2f} bytes/record ({kinds})"
    )
    verdict = "within budget" if iratio <= budget else "OVER BUDGET"
    if quick:
        verdict += " (a --quick smoke run: too small to judge the budget by)"
    print(f"  budget <= {budget:.2f}x: recorded/plain ratio {iratio:.2f}x, {verdict}")


def main_for(
    name: str,
    workload: str,
    args: argparse.Namespace,
    script: str,
    child_args: list[str],
    budget: float,
    pin_malloc: bool,
) -> int:
    """The parent: run the pairs, read the last trace, print the report. Returns the exit code."""
    if args.pairs < 1:
        print(f"{name}: --pairs must be at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loopviz-bench-") as tmp:
        env = child_env(pin_malloc, os.path.join(tmp, "pycache"))
        trace = os.path.join(tmp, "bench.lvtrace")

        def cmd(mode: str) -> list[str]:
            extra = ["--trace", trace] if mode == RECORDED else []
            return [sys.executable, script, "--child", mode, *extra, *child_args]

        try:
            samples = run_pairs(cmd, args.pairs, env)
        except ChildFailed as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        try:
            stats = trace_stats(trace)
        except Exception as exc:  # a TraceError, or a reader being edited: say so, and fail
            print(f"{name}: cannot read the trace the recorded run wrote: {exc}", file=sys.stderr)
            return 1
    note = f"GLIBC_TUNABLES={GLIBC_PIN}" if pin_malloc else ""
    report(name, workload, samples, stats, budget, note, quick=args.quick)
    return 0
