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

The budget is judged on the **whole-process wall ratio** (median of the pairs), as issue 12 sets
it. Wall time on a busy machine is noisy, so ``--callgrind`` also counts the user-space
instructions of each side under valgrind's callgrind, which machine noise does not touch: four
children (plain and recorded, each with the workload and with an empty one) and the marginal
ratio ``(recorded - recorded empty) / (plain - plain empty)``, which leaves start-up, loop set-up
and exit out (start-up has a benchmark and a budget of its own). ``PYTHONHASHSEED=0`` on both
sides makes the counts repeat to a few parts in ten thousand. The recorded children run without
the watchdog thread under callgrind (see count_instructions). ``--pairs 0 --callgrind`` counts
instructions only; ``--callgrind-dir DIR`` keeps the callgrind.out files for
``callgrind_annotate``; ``--json FILE`` appends the figures as one JSON line (benchmarks/budgets.py
reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="also count user-space instructions under valgrind's callgrind (with --pairs 0: "
        "only that) and print the marginal instruction ratio",
    )
    parser.add_argument(
        "--callgrind-dir", help="keep the callgrind.out files here (for callgrind_annotate)"
    )
    parser.add_argument("--json", help="append the figures to this file as one JSON line")
    parser.add_argument("--child", choices=(PLAIN, RECORDED), help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    return parser


def _medians(plain: Sequence[float], recorded: Sequence[float]) -> tuple[float, float, float]:
    p, r = statistics.median(plain), statistics.median(recorded)
    return p, r, r / p


# -- callgrind -----------------------------------------------------------------------------


@dataclass
class Instructions:
    """User-space instructions (callgrind's Ir) of four child processes."""

    plain: int
    plain_empty: int
    recorded: int
    recorded_empty: int
    units: int  # steps, round trips: what one "per unit" figure is per

    @property
    def plain_marginal(self) -> int:
        return self.plain - self.plain_empty

    @property
    def recorded_marginal(self) -> int:
        return self.recorded - self.recorded_empty

    @property
    def ratio(self) -> float:
        return self.recorded_marginal / self.plain_marginal

    def per_unit(self, marginal: int) -> float:
        return marginal / self.units if self.units else float("nan")


def valgrind() -> str | None:
    return shutil.which("valgrind")


def callgrind_total(path: str) -> int:
    """The Ir total of a callgrind.out file (its ``totals:`` line, else ``summary:``)."""
    total = None
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
    if total is None:
        raise ChildFailed(f"no instruction total in {path}")
    return total


def count_instructions(
    cmd: Callable[[str, bool], list[str]], env: dict[str, str], out_dir: str, units: int
) -> Instructions:
    """Run the four children under callgrind, one after the other, and read their totals.

    `cmd(mode, empty)` is a child's command line. Each runs once natively first (bytecode
    cached, page cache warm), so that neither side's count includes compiling its modules.
    """
    tool = valgrind()
    if tool is None:
        raise ChildFailed("--callgrind needs valgrind on PATH (apt-get install valgrind)")
    # The same dict layouts, run after run. No watchdog thread: it looks every 25 ms of *wall*
    # time, and callgrind runs ~50x slower, so it would look ~50x as often per unit of work
    # (+7k instructions per echo round trip on 3.12, 9% of what recording adds; natively it
    # looks 40 times a second, whatever the work). Its real cost is in the wall ratio.
    env = dict(env, PYTHONHASHSEED="0", LOOPVIZ_BENCH_NO_WATCHDOG="1")
    counts: dict[tuple[str, bool], int] = {}
    for mode in (PLAIN, RECORDED):
        for empty in (True, False):
            _run_one(cmd(mode, empty), env)
    for mode in (PLAIN, RECORDED):
        for empty in (True, False):
            name = f"callgrind.out.{mode}{'-empty' if empty else ''}"
            out = os.path.join(out_dir, name)
            vg = [tool, "--tool=callgrind", f"--callgrind-out-file={out}", "--quiet"]
            t0 = time.perf_counter()
            _run_one([*vg, *cmd(mode, empty)], env)
            counts[mode, empty] = callgrind_total(out)
            print(
                f"  callgrind {mode}{' (empty)' if empty else ''}: "
                f"{counts[mode, empty]:,} instructions ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return Instructions(
        counts[PLAIN, False], counts[PLAIN, True], counts[RECORDED, False], counts[RECORDED, True],
        units,
    )  # fmt: skip


# -- the report ----------------------------------------------------------------------------


def _verdict(ratio: float, budget: float, aim: float | None) -> str:
    if ratio > budget:
        return "OVER BUDGET"
    if aim is not None and ratio > aim:
        return f"within budget, above the {aim:.2f}x aim"
    return "within budget"


def report(
    name: str,
    workload: str,
    samples: Samples | None,
    stats: TraceStats,
    budget: float,
    env_note: str = "",
    quick: bool = False,
    instructions: Instructions | None = None,
    unit: str = "unit",
    aim: float | None = None,
) -> dict[str, Any]:
    """Print medians, ratios, the trace's size, instruction counts and the budget verdict (on
    the whole-process wall ratio); return the same figures for --json."""
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    figures: dict[str, Any] = {
        "bench": name,
        "python": sys.version.split()[0],
        "budget": budget,
        "aim": aim,
        "quick": quick,
        "records": stats.records,
        "bytes": stats.size,
    }
    print(f"{name}: {workload}")
    pairs = 0 if samples is None else len(samples.inner[PLAIN])
    how = f"{pairs} alternating plain/recorded pairs, each run in its own process"
    note = f"; {env_note}" if env_note else ""
    print(f"  {impl}; {how if pairs else 'callgrind only'}{note}")
    if samples is not None and pairs:
        ip, ir, iratio = _medians(samples.inner[PLAIN], samples.inner[RECORDED])
        cp, cr, cratio = _medians(samples.cpu[PLAIN], samples.cpu[RECORDED])
        wp, wr, wratio = _medians(samples.wall[PLAIN], samples.wall[RECORDED])
        print(f"  {'median':32}{'plain':>10}{'recorded':>11}{'ratio':>8}")
        print(f"  {'whole process, wall':32}{wp:>9.3f}s{wr:>10.3f}s{wratio:>7.2f}x")
        print(f"  {'runner.run, wall (in-process)':32}{ip:>9.3f}s{ir:>10.3f}s{iratio:>7.2f}x")
        print(f"  {'runner.run, CPU time':32}{cp:>9.3f}s{cr:>10.3f}s{cratio:>7.2f}x")
        whole = _pair_ratios(samples.wall)
        inner = _pair_ratios(samples.inner)
        print(f"  per-pair whole-process ratios: {_spread(whole)}")
        print(f"  per-pair in-process ratios:    {_spread(inner)}")
        figures.update(
            wall_ratio=wratio, wall_plain=wp, wall_recorded=wr, wall_pairs=whole,
            inner_ratio=iratio, inner_pairs=inner, cpu_ratio=cratio,
        )  # fmt: skip
    kinds = ", ".join(f"{k} {n:,}" for k, n in stats.kinds.most_common(6))
    print(
        f"  trace: {stats.records:,} records, {stats.size:,} bytes, "
        f"{stats.bytes_per_record:.2f} bytes/record ({kinds})"
    )
    if instructions is not None:
        ins = instructions
        print(f"  callgrind, user-space instructions (no watchdog){'plain':>10}{'recorded':>16}")
        print(f"  {'with the workload':43}{ins.plain:>16,}{ins.recorded:>16,}")
        print(f"  {'empty workload (start-up, loop, exit)':43}"
              f"{ins.plain_empty:>16,}{ins.recorded_empty:>16,}")  # fmt: skip
        print(f"  {'marginal':43}{ins.plain_marginal:>16,}{ins.recorded_marginal:>16,}")
        pu, ru = ins.per_unit(ins.plain_marginal), ins.per_unit(ins.recorded_marginal)
        print(f"  {'per ' + unit + f' ({ins.units:,})':43}{pu:>16,.0f}{ru:>16,.0f}"
              f"  (+{ru - pu:,.0f})")  # fmt: skip
        figures.update(
            ir_ratio=ins.ratio, ir_plain=ins.plain, ir_plain_empty=ins.plain_empty,
            ir_recorded=ins.recorded, ir_recorded_empty=ins.recorded_empty, units=ins.units,
            unit=unit, ir_per_unit_plain=pu, ir_per_unit_recorded=ru,
        )  # fmt: skip
    budget_text = f"budget <= {budget:.2f}x" + (f" (aim {aim:.2f}x)" if aim is not None else "")
    said = []
    if "wall_ratio" in figures:
        said.append(f"whole-process wall {figures['wall_ratio']:.2f}x, "
                    f"{_verdict(figures['wall_ratio'], budget, aim)}")  # fmt: skip
    if instructions is not None:
        said.append(f"instructions {instructions.ratio:.2f}x, "
                    f"{_verdict(instructions.ratio, budget, aim)}")  # fmt: skip
    suffix = " (a --quick smoke run: too small to judge the budget by)" if quick else ""
    print(f"  {budget_text}: recorded/plain " + "; ".join(said) + suffix)
    return figures


def _pair_ratios(times: dict[str, list[float]]) -> list[float]:
    return [r / p for p, r in zip(times[PLAIN], times[RECORDED], strict=True)]


def _spread(ratios: list[float]) -> str:
    ordered = ", ".join(f"{x:.2f}" for x in sorted(ratios))
    return f"median {statistics.median(ratios):.2f}x ({ordered})"


def main_for(
    name: str,
    workload: str,
    args: argparse.Namespace,
    script: str,
    child_args: list[str],
    budget: float,
    pin_malloc: bool,
    empty_args: list[str] | None = None,
    units: int = 0,
    unit: str = "unit",
    aim: float | None = None,
) -> int:
    """The parent: run the pairs (and callgrind), read the last trace, print the report.

    `empty_args` replace `child_args` for the empty-workload children callgrind subtracts;
    `units` is how many `unit`s (steps, round trips) the workload does. Returns the exit code.
    """
    callgrind = getattr(args, "callgrind", False)
    if args.pairs < 0 or (args.pairs == 0 and not callgrind):
        print(f"{name}: --pairs must be at least 1 (0 only with --callgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loopviz-bench-") as tmp:
        env = child_env(pin_malloc, os.path.join(tmp, "pycache"))
        trace = os.path.join(tmp, "bench.lvtrace")

        def cmd(mode: str, empty: bool = False) -> list[str]:
            extra = ["--trace", trace] if mode == RECORDED else []
            sizes = empty_args if empty and empty_args is not None else child_args
            return [sys.executable, script, "--child", mode, *extra, *sizes]

        samples = None
        instructions = None
        try:
            if args.pairs:
                samples = run_pairs(cmd, args.pairs, env)
            if callgrind:
                out_dir = args.callgrind_dir or tmp
                os.makedirs(out_dir, exist_ok=True)
                # the last child is the recorded one with the workload: its trace is counted
                instructions = count_instructions(cmd, env, out_dir, units)
        except ChildFailed as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        try:
            stats = trace_stats(trace)
        except Exception as exc:  # a TraceError, or a reader being edited: say so, and fail
            print(f"{name}: cannot read the trace the recorded run wrote: {exc}", file=sys.stderr)
            return 1
    note = f"GLIBC_TUNABLES={GLIBC_PIN}" if pin_malloc else ""
    figures = report(
        name, workload, samples, stats, budget, note, quick=args.quick,
        instructions=instructions, unit=unit, aim=aim,
    )  # fmt: skip
    if getattr(args, "json", None):
        with open(args.json, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(figures) + "\n")
    return 0
