"""How loopviz starts the agent (`visualizer.recorder.agent`): its command line.

``loopviz record`` execs it; a viewer's `visualizer.runner.Program` runs it in a child process.
Standard library only, and little of it: ``loopviz record`` imports this on its way to exec, and
its start-up has a budget (0.15 s over ``python``).
"""

from __future__ import annotations

import os
import sys


def agent_command(
    trace: str,
    module: str | None,
    program: list[str],
    *,
    echo: bool = True,
    quiet: bool = False,
    keep_uvloop: bool = False,
    control: int | None = None,
    step: bool = False,
    block_ms: float | None = None,
) -> list[str]:
    """The agent's command line: this interpreter, with the options it was started with, running
    the agent imported from this very copy of loopviz.

    Without `echo` the program's sys.stdout/sys.stderr text only goes into the trace; with
    `quiet` the agent says nothing of its own on stderr; with `keep_uvloop` it leaves uvloop's
    loop in place and records it from outside, as a subclass sees it; `control` is the fd the
    agent reads the viewer's commands from.
    """
    package_parent = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    bootstrap = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from visualizer.recorder import agent; del sys.path[0]; agent.main()"
    )
    options = [] if echo else ["--no-echo"]
    if quiet:
        options.append("--quiet")
    if keep_uvloop:
        options.append("--keep-uvloop")
    if control is not None:
        options += ["--control", str(control)]
    if step:
        options.append("--step")
    if block_ms is not None:
        options += ["--block-ms", repr(float(block_ms))]
    target = ["-m", module] if module is not None else []
    return [
        sys.executable, *_interpreter_options(), "-c", bootstrap, package_parent,
        *options, "--", trace, *target, *program,
    ]  # fmt: skip


def _interpreter_options() -> list[str]:
    """The options this interpreter was started with (``python -X dev -m visualizer``), for the
    agent's: the program runs as ``python -X dev script.py`` would."""
    given = sys.orig_argv[1 : len(sys.orig_argv) - len(sys.argv) + 1]
    # What named loopviz itself: its console script, or -m visualizer.
    if given in ([sys.argv[0]], ["-m", "visualizer"], ["-mvisualizer"]):
        return []
    import subprocess

    return subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
