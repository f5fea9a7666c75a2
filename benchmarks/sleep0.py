"""Recording overhead on a `sleep(0)` storm: 1,000 tasks x 100 `await asyncio.sleep(0)`.

100,000 task steps, each recorded (begin and end) by RecordingEventLoop into a trace *file*, so
encoding and writing are included, against plain ``asyncio.SelectorEventLoop``. Each run is a
separate process; plain and recorded alternate; medians of 7 pairs by default. Prints the
ratios, the records written and bytes per record; budget <= 1.5x on the whole-process wall ratio
(issue 12). ``--callgrind`` adds the marginal instruction ratio and instructions per step (see
_common.py). Exits 0 whatever the ratio (non-zero only if a run fails).

    python benchmarks/sleep0.py [--pairs N] [--tasks N] [--steps N] [--quick]
                                [--callgrind [--callgrind-dir DIR]] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import _common  # benchmarks/ is sys.path[0] when this runs as a script

BUDGET = 1.5


async def storm(args: argparse.Namespace) -> None:
    steps = args.steps

    async def worker() -> None:
        for _ in range(steps):
            await asyncio.sleep(0)

    await asyncio.gather(*[asyncio.create_task(worker()) for _ in range(args.tasks)])


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0], default_pairs=7)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100, help="sleep(0) per task")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.steps = min(args.tasks, 200), min(args.steps, 20)
        args.pairs = min(args.pairs, 2)
    if args.child:
        _common.run_child(args.child, args.trace, storm, args)
        return 0
    workload = (
        f"{args.tasks:,} tasks x {args.steps} sleep(0) = {args.tasks * args.steps:,} steps, "
        "recorded to a trace file"
    )
    return _common.main_for(
        "sleep0",
        workload,
        args,
        os.path.abspath(__file__),
        ["--tasks", str(args.tasks), "--steps", str(args.steps)],
        BUDGET,
        pin_malloc=False,
        empty_args=["--tasks", "0", "--steps", str(args.steps)],
        units=args.tasks * args.steps,
        unit="step",
    )


if __name__ == "__main__":
    sys.exit(main())
