"""The loopviz commands. Every argument or input error is one line, never a traceback."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator

from . import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs record's start-up 4 ms
if TYPE_CHECKING:
    from typing import NoReturn

    from .model.diagnose import Settings

PROG = "loopviz"
# The commands that run a program: what follows its script (or -m MODULE) is the program's.
PROGRAM_COMMANDS = ("record", "run", "step")


class UsageError(Exception):
    """A mistake in how loopviz was called: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


KEEP_UVLOOP_HELP = (
    "keep uvloop's event loop, recorded from outside as a subclass of it sees it: tasks, steps, "
    "waits, timers, but not its select, I/O or ready queue (by default loopviz puts asyncio's "
    "recording loop in its place, and says so)"
)
# Why `step` refuses --keep-uvloop, in one line.
STEP_KEEPS_NO_UVLOOP = (
    "step cannot keep uvloop: the stepper holds asyncio's loop between two callbacks, and uvloop "
    "runs its loop in C, where nothing can hold it; step without --keep-uvloop (asyncio's loop "
    "then runs in uvloop's place, and loopviz says so) or watch it with 'loopviz run "
    "--keep-uvloop'"
)


def _program_arguments(command: argparse.ArgumentParser, *, steps: bool = False) -> None:
    """What `record`, `run` and `step` take: where to keep the trace, and the program to run.

    The program (a script and its arguments, or -m and a module and its arguments) is split off
    by `_split_program` before the options are parsed: these two are here for --help. `step`
    takes --keep-uvloop only to refuse it in words (see STEP_KEEPS_NO_UVLOOP).
    """
    command.add_argument("-o", "--output", metavar="FILE", help="trace file to keep")
    command.add_argument("--keep-uvloop", action="store_true",
                         help=argparse.SUPPRESS if steps else KEEP_UVLOOP_HELP)  # fmt: skip
    command.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    command.add_argument("program", nargs="*", metavar="script.py [args ...]",
                         help="the program and its arguments")  # fmt: skip


def _program_usage(command: str, options: str) -> dict[str, str]:
    """A program command's usage line, and the rule its --help ends with."""
    return {
        "usage": f"{PROG} {command} [-h] {options}[--] (script.py | -m MODULE) [args ...]",
        "epilog": "Everything after script.py or -m MODULE is the program's: loopviz's own "
        "options go before it ('--' ends them).",
    }


def _rule_arguments(command: argparse.ArgumentParser) -> None:
    """The warning rules' thresholds, and which rules run (run, step, replay, check)."""
    command.add_argument(
        "--max-block-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="loop-blocked fires for one callback or step this long "
        "(default 100); the watchdog samples the stack from then on",
    )
    command.add_argument(
        "--max-delay-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="long-delay fires for a step this late (default 100)",
    )
    command.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE",
        help="turn a warning rule off (repeatable, or comma-separated)",
    )
    command.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="RULE",
        help="run only these warning rules (repeatable, or comma-separated)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The rules' Settings the command line asks for; UsageError on a bad one."""
    from .model.diagnose import RULE_NAMES, Settings

    disabled = rule_names(args.disable)
    if args.only:
        disabled |= frozenset(RULE_NAMES) - rule_names(args.only)
    if args.max_block_ms <= 0 or args.max_delay_ms <= 0:
        raise UsageError("--max-block-ms and --max-delay-ms must be more than 0")
    return Settings(block_ms=args.max_block_ms, delay_ms=args.max_delay_ms, disabled=disabled)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="See what Python's asyncio event loop is doing.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    record = commands.add_parser(
        "record",
        help="run a program and record its event loops to a trace file",
        description="Run a program exactly as 'python script.py' would, recording every asyncio "
        "event loop it creates. loopviz becomes the program: its pid, signals, output, argv "
        "and exit status are the program's own.",
        **_program_usage("record", "[-q] [-o FILE] [--keep-uvloop] "),
    )
    record.add_argument("-q", "--quiet", action="store_true", help="don't say where the trace went")
    _program_arguments(record)

    run = commands.add_parser(
        "run",
        help="run a program and watch its tasks live",
        description="Run a program under the recording loop and show its tasks, loop and output "
        "live. Its stdout and stderr appear in the Output pane, never on the terminal; stdin is "
        "/dev/null. The trace is kept on disk (a temporary file unless -o is given).",
        **_program_usage("run", "[-o FILE] [--keep-uvloop] [rule options] "),
    )
    _program_arguments(run)
    _rule_arguments(run)

    step = commands.add_parser(
        "step",
        help="run a program one callback at a time, with the loop's internals shown",
        description="Start a program held before its first callback and step it: '.' runs one "
        "callback, '}' runs to the next loop iteration, 'u' until the selected task's next step, "
        "'a' plays on by itself, space runs it on and holds it again. While it is held its "
        "clock stands still. Otherwise as 'loopviz run'.",
        **_program_usage("step", "[-o FILE] [rule options] "),
    )
    _program_arguments(step, steps=True)
    _rule_arguments(step)

    examples = commands.add_parser(
        "examples",
        help="list the example programs, and open one in the stepper",
        description="List the example programs that come with loopviz, one line each. Give a "
        "number or a name to open that example in the stepper ('loopviz examples 1'); with "
        "none, on a terminal, it asks which.",
    )
    examples.add_argument("choice", nargs="?", help="an example's number or name")
    examples.add_argument("--list", action="store_true", help="only list them, don't ask")
    _rule_arguments(examples)

    replay = commands.add_parser(
        "replay",
        help="open a recorded trace in the viewer",
        description="Open a trace written by 'loopviz record' or 'loopviz run' in the viewer.",
    )
    replay.add_argument("trace", metavar="FILE", help="a trace file")
    _rule_arguments(replay)

    summary = commands.add_parser(
        "summary",
        help="print the tasks and loop totals of a trace",
        description="Print a table of the tasks in a trace and the totals of each loop.",
    )
    summary.add_argument("trace", metavar="FILE", help="a trace written by 'loopviz record'")
    summary.add_argument("--json", action="store_true", help="print JSON instead of tables")

    check = commands.add_parser(
        "check",
        help="look for asyncio bugs in a trace; exit 1 if a rule fires (for CI)",
        description="Run loopviz's rules over a trace and print what they find: a blocked "
        "loop, an exception never retrieved, a task destroyed while pending, tasks pending at "
        "shutdown, a coroutine never awaited, a long scheduling delay, a task spinning on "
        "sleep(0), a task that never yielded. Exit status 0 when nothing fires, 1 when a rule "
        "does, 2 on bad input or a trace with no recorded event loop (nothing was checked).",
    )
    check.add_argument("trace", metavar="FILE", nargs="?",
                       help="a trace written by 'loopviz record', 'run' or 'step'")  # fmt: skip
    _rule_arguments(check)
    check.add_argument("--json", action="store_true", help="print the warnings as JSON")
    check.add_argument("--list-rules", action="store_true", help="list the rules and exit")

    export = commands.add_parser(
        "export",
        help="convert a trace for Perfetto, chrome://tracing or your own scripts",
        description="Convert a trace. 'perfetto' writes Chrome trace-event JSON that "
        "ui.perfetto.dev and chrome://tracing open: a process per event loop, a track per task "
        "with a slice per step, arrows from waker to woken step, ready-queue and task counters. "
        "'json' writes one document with the header and every record; 'jsonl' writes the "
        "header, then one record per line. A record is an object with its loop, its kind and "
        "its fields by name, strings resolved (a field named 'loop' is called 'on_loop').",
    )
    export.add_argument("trace", metavar="FILE", help="a trace written by 'loopviz record'")
    export.add_argument(
        "-f", "--format", choices=_ExportFormats(), default="perfetto", metavar="FORMAT",
        help="what to write: perfetto, json or jsonl, as said above (default: perfetto)",
    )  # fmt: skip
    export.add_argument(
        "-o", "--output", metavar="OUT",
        help="where to write; '-' is stdout (default: FILE with .lvtrace replaced by "
        ".perfetto.json for perfetto, stdout for json and jsonl)",
    )  # fmt: skip
    return parser


class _ExportFormats:
    """export's --format choices, from `visualizer.export` when a value is checked: importing it
    (and the model) would cost every other command, `record` most, time it has no use for. (With
    no metavar, argparse would list them, importing it, as the parser is built.)"""

    def __contains__(self, name: object) -> bool:
        from .export import FORMATS

        return name in FORMATS

    def __iter__(self) -> Iterator[str]:
        from .export import FORMATS

        return iter(FORMATS)


# record's own options as `_parser` defines them, option -> (dest, whether it takes a value); a
# test checks they agree. `record` parses them without building the parser: argparse's help
# formatter costs record's start-up 10 ms (40 ms on 3.14, which imports _colorize for it).
RECORD_OPTIONS = {
    "-q": ("quiet", False),
    "--quiet": ("quiet", False),
    "-o": ("output", True),
    "--output": ("output", True),
    "--keep-uvloop": ("keep_uvloop", False),
}


class _Split:
    """A program command's line, split as python splits its own (see `_split_program`)."""

    def __init__(self) -> None:
        self.own: list[str] = []  # loopviz's options
        self.module: str | None = None
        self.program: list[str] = []
        # What the options say, dest -> value; None when one is not in the table or lacks its
        # value (argparse then says what is wrong, or prints the help).
        self.values: dict[str, str | bool] | None = {}


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line as a Namespace; for a program command, `module` and `program` are the
    program's (see `_split_program`)."""
    split = _split_program(RECORD_OPTIONS, argv[1:]) if argv[:1] == ["record"] else None
    if split is not None and split.values is not None:
        args = argparse.Namespace(command="record", quiet=False, output=None, keep_uvloop=False)
        vars(args).update(split.values)
    else:
        parser = _parser()
        if not argv or argv[0] not in PROGRAM_COMMANDS:
            return parser.parse_args(argv)
        split = _split_program(_option_table(parser, argv[0]), argv[1:])
        args = parser.parse_args([argv[0], *split.own])
    args.module, args.program = split.module, split.program
    if split.module == "":
        raise UsageError(f"-m needs a module name: {PROG} {argv[0]} -m MODULE [args ...]")
    return args


def _option_table(parser: argparse.ArgumentParser, command: str) -> dict[str, tuple[str, bool]]:
    """A command's options as `_split_program` takes them: option -> (dest, takes a value)."""
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = commands.choices[command]._option_string_actions
    return {option: (action.dest, action.nargs != 0) for option, action in actions.items()}


def _split_program(options: dict[str, tuple[str, bool]], argv: list[str]) -> _Split:
    """Split what follows `record`, `run` or `step` as python splits its own command line:
    loopviz's `options`, then the module (-m MODULE, -mMODULE) or None, then the program's argv
    (the script and what follows it, or what follows the module, or what follows '--').

    Option clusters and values are taken as argparse takes them (-qo FILE, -oFILE, --output=FILE,
    --out FILE); an unknown option is left among loopviz's, for argparse to refuse.
    """
    split = _Split()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            split.own, split.program = argv[:i], argv[i + 1 :]
            return split
        if not arg.startswith("-") or arg == "-":
            split.own, split.program = argv[:i], argv[i:]
            return split
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            option = _long_option(options, name)
            if option is None or equals and not options[option][1]:
                split.values = None  # unknown, or a value given to a flag
            elif not options[option][1]:
                _set(split, options[option][0], True)
            elif equals:
                _set(split, options[option][0], value)
            else:
                i += _take_value(split, options[option][0], argv, i + 1)
            i += 1
            continue
        for j in range(1, len(arg)):  # a cluster of short options: -q, -qo FILE, -qmMODULE
            flag = "-" + arg[j]
            if flag == "-m":
                split.own = argv[:i] + ([arg[:j]] if j > 1 else [])
                if j + 1 < len(arg):
                    split.module, split.program = arg[j + 1 :], argv[i + 1 :]
                else:
                    split.module = argv[i + 1] if i + 1 < len(argv) else ""
                    split.program = argv[i + 2 :]
                return split
            if flag not in options:
                split.values = None
                break
            dest, takes_value = options[flag]
            if takes_value:  # the rest of the cluster, or the next argument
                if j + 1 < len(arg):
                    _set(split, dest, arg[j + 1 :])
                else:
                    i += _take_value(split, dest, argv, i + 1)
                break
            _set(split, dest, True)
        i += 1
    split.own = argv
    return split


def _take_value(split: _Split, dest: str, argv: list[str], i: int) -> int:
    """Take argv[i] as the value of option `dest`, as argparse would; how many arguments that
    took (none when argparse would refuse it: it has no value, or an option in its place)."""
    if i < len(argv) and not argv[i].startswith("-"):
        _set(split, dest, argv[i])
        return 1
    split.values = None
    return 0


def _set(split: _Split, dest: str, value: str | bool) -> None:
    if split.values is not None:
        split.values[dest] = value


def _long_option(options: dict[str, tuple[str, bool]], name: str) -> str | None:
    """The option `name` stands for, abbreviated as argparse allows (--out: --output), or None."""
    if name in options:
        return name
    known = {option for option in options if option.startswith(name)}
    return known.pop() if len(known) == 1 else None


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(sys.argv[1:] if argv is None else list(argv))
        if args.command == "record":
            return _record(args)
        if args.command == "summary":
            return _summary(args)
        if args.command in ("run", "step"):
            return _run(args)
        if args.command == "examples":
            return _examples(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "export":
            return _export(args)
        if args.command == "check":
            return _check(args)
        _parser().print_help()
        return 2
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`loopviz summary x | head`): say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not _is_trace_error(exc):
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def _is_trace_error(exc: Exception) -> bool:
    """Whether `exc` is the reader's TraceError (a missing, foreign or damaged trace), without
    importing the reader on the way to commands that never read one."""
    reader = sys.modules.get(f"{__package__}.trace.reader")
    return reader is not None and isinstance(exc, reader.TraceError)


# -- record ----------------------------------------------------------------------------------


def _stem(target: str) -> str:
    """A file name stem for a program: the script's name, or the module's with dots as '_'."""
    if target.endswith(".py"):
        return os.path.splitext(os.path.basename(target))[0]
    return target.replace(".", "_")


def _default_trace_name(target: str) -> str:
    return f"{_stem(target)}-{time.strftime('%Y%m%d-%H%M%S')}.lvtrace"


def _check_target(module: str | None, program: list[str], command: str = "record") -> None:
    if module is None:
        if not program:
            raise UsageError(
                f"{command} needs a script to run: loopviz {command} script.py [args...]"
            )
        script = program[0]
        if not os.path.exists(script):
            raise UsageError(f"cannot find script {script!r}")


def _record(args: argparse.Namespace) -> NoReturn:
    """Become the agent running the program (same pid: every signal reaches the program, and
    its exit status is loopviz's), once the arguments are checked and the trace can be written.

    Nothing here installs a signal handler: what the program inherits (SIGINT ignored in a
    background job) is what loopviz inherited.
    """
    from .launch import agent_command

    _check_target(args.module, args.program)
    trace = args.output or _default_trace_name(args.module or args.program[0])
    try:
        os.close(os.open(trace, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise UsageError(f"cannot write the trace to {trace}: {exc.strerror}") from None
    command = agent_command(
        trace, args.module, args.program, quiet=args.quiet, keep_uvloop=args.keep_uvloop
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(command[0], command)
    except OSError as exc:
        raise UsageError(f"cannot start {command[0]}: {exc.strerror or exc}") from None


# -- run -------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    """``loopviz run`` and ``loopviz step`` (the same, but started held)."""
    if args.command == "step" and args.keep_uvloop:
        raise UsageError(STEP_KEEPS_NO_UVLOOP)
    _check_target(args.module, args.program, args.command)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(f"{args.command} needs a terminal; use 'loopviz record' to record "
                         "without one")  # fmt: skip
    from .runner import Program
    from .tui.app import LoopvizApp
    from .tui.format import exit_words
    from .tui.session import Session

    target = args.module or args.program[0]
    traces: list[str] = []

    def make_session() -> Session:
        trace = args.output or _temporary_trace(target)
        traces.append(trace)
        program = Program(args.program, args.module, trace, step=args.command == "step",
                          block_ms=settings.block_ms, keep_uvloop=args.keep_uvloop)  # fmt: skip
        return Session(trace, program, title=target, settings=settings)

    settings = _settings(args)
    session = make_session()
    app = LoopvizApp(session, make_session)

    def leave(signum: int, frame: object) -> None:
        # Killed politely (the terminal closed, `kill`): restore the terminal, stop the program.
        app.exit(return_code=128 + signum)

    handlers = {signum: signal.signal(signum, leave) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        app.run()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if app.session.program is not None and app.session.program.running:
            print(f"{PROG}: stopping {target} (pid {app.session.program.pid})...", file=sys.stderr)
        app.session.close()
    status = app.session.status
    ended = "" if status is None else f" ({exit_words(status)})"
    print(f"{PROG}: {target}{ended}; trace kept in {traces[-1]}", file=sys.stderr)
    return 0 if app.return_code is None else app.return_code


def _replay(args: argparse.Namespace) -> int:
    from .trace.reader import read_header
    from .tui.app import LoopvizApp
    from .tui.session import Session

    read_header(args.trace)  # a missing, foreign or damaged file: one line, before any screen
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("replay needs a terminal; 'loopviz summary' prints a trace without one")
    settings = _settings(args)
    app = LoopvizApp(Session(args.trace, None, title=os.path.basename(args.trace),
                             settings=settings))  # fmt: skip
    try:
        app.run()
    finally:
        app.session.close()
    return 0 if app.return_code is None else app.return_code


def _examples(args: argparse.Namespace) -> int:
    from .examples import catalogue, find, listing

    examples = catalogue()
    if not examples:
        raise UsageError("this installation has no examples (they come with a source checkout)")
    choice = args.choice
    if choice is None:
        print(listing(examples))
        if args.list or not (sys.stdin.isatty() and sys.stdout.isatty()):
            print(f"\nOpen one in the stepper: {PROG} examples NUMBER (or NAME)")
            return 0
        try:
            choice = input(f"\nOpen which in the stepper? [1-{len(examples)}, Enter: none] ")
        except EOFError:
            choice = ""
        if not choice.strip():
            return 0
    example = find(choice, examples)
    if example is None:
        raise UsageError(f"no example {choice!r}; '{PROG} examples --list' lists them")
    args.command, args.module, args.output, args.keep_uvloop = "step", None, None, False
    relative = os.path.relpath(example.path)
    args.program = [str(example.path) if relative.startswith("..") else relative]
    return _run(args)


def _temporary_trace(target: str) -> str:
    import tempfile

    handle, path = tempfile.mkstemp(prefix=f"loopviz-{_stem(target)}-", suffix=".lvtrace")
    os.close(handle)
    return path


# -- summary ---------------------------------------------------------------------------------


def _summary(args: argparse.Namespace) -> int:
    from .model import Model
    from .summary import print_summary, summary_json

    model = Model.load(args.trace)
    if args.json:
        print(summary_json(model, args.trace))
    else:
        print_summary(model, args.trace)
    return 0


# -- check -----------------------------------------------------------------------------------


def rule_names(values: list[str]) -> frozenset[str]:
    """Rule names given on the command line (repeated or comma-separated); UsageError if one is
    not a rule."""
    from .model.diagnose import RULE_NAMES

    names = frozenset(name.strip() for value in values for name in value.split(",") if name)
    unknown = sorted(names - set(RULE_NAMES))
    if unknown:
        raise UsageError(f"no rule {', '.join(unknown)}; the rules are {', '.join(RULE_NAMES)}")
    return names


def _check(args: argparse.Namespace) -> int:
    from .model.diagnose import RULES, diagnose

    if args.list_rules:
        for rule in RULES:
            print(f"{rule.name:20} {rule.severity:8} {rule.explains}")
        return 0
    if args.trace is None:
        raise UsageError("check needs a trace: loopviz check FILE")
    settings = _settings(args)
    from .model import NO_LOOP, Model

    model = Model.load(args.trace)
    if not model.loops:
        # Nothing was checked: a CI gate must not pass on a trace that holds nothing.
        print(f"{PROG}: error: {args.trace}: {NO_LOOP}; nothing to check", file=sys.stderr)
        return 2
    for _, note in model.notes:  # what the recording could not see is not checked either
        print(f"{PROG}: {note}", file=sys.stderr)
    findings = diagnose(model, settings)
    if args.json:
        import json

        from .summary import finding_row

        print(json.dumps([finding_row(model, finding) for finding in findings], indent=2))
    else:
        from rich.console import Console

        from .summary import print_findings

        print_findings(Console(), model, findings)
    return 1 if findings else 0


# -- export ----------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from .export import default_output, export_file, write
    from .trace.reader import read_trace

    trace = read_trace(args.trace)  # a missing, foreign or damaged file: one line
    output = args.output or default_output(args.trace, args.format)
    if output != "-" and os.path.exists(output) and os.path.samefile(output, args.trace):
        raise UsageError(f"{output} is the trace itself; give another file with -o")
    if trace.truncated:
        print(f"{PROG}: {trace.note}", file=sys.stderr)
    if output == "-":
        write(trace, args.format, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    try:
        export_file(trace, args.format, output)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"{PROG}: {args.format} export written to {output}", file=sys.stderr)
    return 0
