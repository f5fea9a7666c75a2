"""The agent: runs a program as ``python script.py`` would, recording every loop it creates.

``loopviz record`` becomes the agent (``os.execv``: same pid, the signals and exit status are
the program's own); `visualizer.runner.Program` starts it in a child process for a viewer. It
installs the recording loop, runs the script (or ``-m module``) as ``__main__`` with its own argv
and ``sys.path[0]``, copies stdout/stderr into the trace as it passes them on (or, under a
viewer, only into the trace), and finishes the trace itself however the program ends: at
interpreter exit (after the program's threads, so a loop in a thread that outlives the script
is recorded to its end), by ``sys.exit``, an exception, ``os._exit`` or SIGTERM. Unless told to
be quiet it then says on stderr where the trace is, or why it is incomplete or empty.

Under a viewer it also reads a control pipe: one JSON object a line, ``{"cmd": NAME, ...}``.
When the pipe closes (the viewer quit or died) the program is ended, its trace flushed.
"""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any, TextIO

from ..trace import schema
from . import core, hooks, stepper, watchdog

# Frames from here and from runpy are not the program's (runpy's may say "<frozen runpy>").
_AGENT_FILES = {__file__, runpy.__file__, "<frozen runpy>"}


# Output is recorded in chunks of whole lines: at most this much text or this long apart, and
# whenever a loop is about to wait (so nothing printed sits unrecorded while the program idles).
OUTPUT_CHUNK = 16384
OUTPUT_NS = 20_000_000
# When the viewer goes away the program gets SIGTERM, and this many seconds to end before SIGKILL.
EXIT_GRACE = 3.0


class _OutputTee:
    """Records the text written to a stream in chunks of whole lines, and passes it on (`echo`).

    Without `echo` the text only goes into the trace, until the trace is closed: what is written
    after that (atexit handlers, interpreter shutdown) goes on to the real stream, not lost.
    """

    def __init__(
        self, stream: TextIO, number: int, recorder: core.Recorder, *, echo: bool = True
    ) -> None:
        self._lv_stream = stream
        self._lv_number = number
        self._lv_recorder = recorder
        self._lv_echo = echo
        self._lv_pending: list[str] = []
        self._lv_size = 0
        self._lv_last = core.clock()
        self._lv_lock = threading.RLock()  # a signal handler may print inside a write
        recorder.idle_flushers.append(self._lv_emit)

    def write(self, text: str) -> int:
        recording = not self._lv_recorder.closed
        written = self._lv_stream.write(text) if self._lv_echo or not recording else len(text)
        if text and recording:
            if core.stepper is not None:
                core.stepper.saw("output")
            with self._lv_lock:
                self._lv_pending.append(text)
                self._lv_size += len(text)
                due = self._lv_size >= OUTPUT_CHUNK or core.clock() - self._lv_last >= OUTPUT_NS
            if due and text.endswith("\n"):
                self._lv_emit()
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _lv_emit(self) -> None:
        with self._lv_lock:
            if not self._lv_pending:
                return
            text = "".join(self._lv_pending)
            self._lv_pending.clear()
            self._lv_size = 0
            self._lv_last = core.clock()
        self._lv_recorder.emit(schema.OUTPUT, core.clock(), self._lv_number, text)

    def flush(self) -> None:
        self._lv_stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lv_stream, name)

    def __iter__(self) -> Any:
        return iter(self._lv_stream)


class Agent:
    """Owns the recorder of one program run and finishes the trace exactly once.

    `keep_uvloop`: keep uvloop's loop, recorded from outside (`subclass`), instead of putting
    asyncio's recording one in its place.
    `tell`: where to say what loopviz did (the stream loopviz record reports on: where the trace
    is once finished, uvloop replaced), or None to say nothing.
    """

    def __init__(
        self,
        trace_path: str,
        argv: list[str],
        *,
        echo: bool = True,
        block_ms: float = 100.0,
        keep_uvloop: bool = False,
        tell: TextIO | None = None,
    ) -> None:
        self.trace_path = trace_path
        self.pid = os.getpid()  # a forked child inherits the agent, not its trace
        self.keep_uvloop = keep_uvloop
        self.block_ms = block_ms
        self.recorder = core.Recorder(core.FileSink(trace_path), {"argv": argv})
        self.finished = False
        self.echo = echo
        self.tell = tell
        self.tees: list[_OutputTee] = []
        self.watchdog: watchdog.Watchdog | None = None
        # How the program ended, recorded when the interpreter exits: a script that returns
        # exits 0 unless run() learns otherwise.
        self.status = 0
        self.detail = ""

    def start(self) -> None:
        hooks.record_loops(self.recorder, keep_uvloop=self.keep_uvloop,
                           say=self._say if self.tell is not None else None)  # fmt: skip
        self.tees = [
            _OutputTee(sys.stdout, 1, self.recorder, echo=self.echo),
            _OutputTee(sys.stderr, 2, self.recorder, echo=self.echo),
        ]
        sys.stdout, sys.stderr = self.tees  # type: ignore[assignment]
        # Registered before the program runs, so called after its own atexit functions, and
        # (as every atexit function) after the interpreter joined its non-daemon threads.
        atexit.register(self.finish)
        self._patch_os_exit()
        self._catch_sigterm()
        self.watchdog = watchdog.Watchdog(self.recorder, self.block_ms / 1000)
        self.watchdog.start()

    def ended(self, status: int, detail: str) -> None:
        """How the program ended (`finish` records it at interpreter exit)."""
        self.status, self.detail = status, detail

    def finish(self, status: int | None = None, detail: str = "") -> None:
        """Flush output and loops, record how the program ended (`status`, or what `ended`
        said), close the trace, and tell where it is (once)."""
        if self.finished or os.getpid() != self.pid:
            # A forked child ending: the recorder stopped writing the parent's trace at the
            # fork (its own loops record into a file of its own), and it is not loopviz's say.
            return
        self.finished = True
        if status is None:
            status, detail = self.status, self.detail
        if self.watchdog is not None:
            self.watchdog.stop()
        for tee in self.tees:
            try:
                tee.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream must not keep the trace from being written
            tee._lv_emit()
        self.recorder.flush()
        self.recorder.emit(schema.EXIT, core.clock(), status, detail)
        self.recorder.close()
        self._untee()
        if self.tell is not None:
            self._say(*self._outcome())

    def _untee(self) -> None:
        """Give sys.stdout and sys.stderr back their own streams, and let go of the tees: what
        is printed from now on (interpreter shutdown, a __del__) is python's business. A tee kept
        alive would keep its stream alive past the point where python flushes it for the last
        time, and that text would be lost."""
        for name, tee in zip(("stdout", "stderr"), self.tees, strict=False):
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._lv_stream)
        self.recorder.idle_flushers.clear()
        self.tees = []

    def _outcome(self) -> list[str]:
        """What loopviz says about the trace when the program has ended."""
        recorder = self.recorder
        if recorder.failure is not None:
            lines = [f"the trace in {self.trace_path} is incomplete: {recorder.failure}; "
                     "recording stopped there and the program ran on"]  # fmt: skip
        else:
            lines = [f"trace written to {self.trace_path}"]
        if recorder.loops_made == 0:
            lines.append(schema.NO_LOOP)
        return lines

    def _say(self, *lines: str) -> None:
        """Print `lines` as loopviz's own, on the stream `tell` (fd 2 if the program closed it)."""
        text = "".join(f"loopviz: {line}\n" for line in lines)
        try:
            assert self.tell is not None
            self.tell.write(text)
            self.tell.flush()
        except (OSError, ValueError):
            try:
                os.write(2, text.encode(errors="replace"))
            except OSError:
                pass  # nowhere left to say it

    def _patch_os_exit(self) -> None:
        real_exit = os._exit

        def _exit(status: int) -> None:
            self.finish(_exit_status(status), "os._exit")
            real_exit(status)

        _exit.__wrapped__ = real_exit  # type: ignore[attr-defined]
        os._exit = _exit

    def _catch_sigterm(self) -> None:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            self.finish(-signum, "killed by SIGTERM")
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        signal.signal(signal.SIGTERM, on_sigterm)


class _Control:
    """Reads the viewer's control pipe in a daemon thread: one JSON object a line.

    A line ``{"cmd": NAME, ...}`` goes to ``commands[NAME]``, which gets the whole object; a
    line that is not such an object, or names a command not in `commands`, is ignored (a newer
    viewer may say more). End of file means the viewer is gone: the program is ended.
    """

    def __init__(self, fd: int, agent: Agent) -> None:
        import json  # here: loopviz record has no control pipe, nor time to import it

        os.set_inheritable(fd, False)  # the program's own children have no use for it
        self._loads = json.loads
        self._stream = os.fdopen(fd, "rb")
        self._agent = agent
        self.commands: dict[str, Callable[[dict[str, Any]], None]] = {}

    def start(self) -> None:
        threading.Thread(target=self._read, name="loopviz-control", daemon=True).start()

    def _read(self) -> None:
        try:
            with self._stream:
                for line in self._stream:
                    self._dispatch(line)
        except OSError:
            return  # the program closed our fd: nobody can steer it any more, let it run
        self._viewer_gone()

    def _dispatch(self, line: bytes) -> None:
        try:
            message = self._loads(line)
        except ValueError:
            return
        name = message.get("cmd") if isinstance(message, dict) else None
        handler = self.commands.get(name) if isinstance(name, str) else None
        if handler is not None:
            handler(message)

    def _viewer_gone(self) -> None:
        """End the program as SIGTERM does (the agent flushes the trace); SIGKILL if it lingers."""
        if core.stepper is not None:
            core.stepper.command({"cmd": "release"})  # a held loop would never see it end
        _signal_program(signal.SIGTERM)
        time.sleep(EXIT_GRACE)
        self._agent.finish(-signal.SIGKILL, "the viewer went away; the program ignored SIGTERM")
        _signal_program(signal.SIGKILL)


def _steer(control: _Control) -> _Control:
    """The stepping commands: the first one of a program not stepped yet starts stepping it."""

    def command(message: dict[str, Any]) -> None:
        stepper.install(hold=False).command(message)

    for name in ("step", "tick", "until_task", "until", "continue", "pause", "play", "release"):
        control.commands[name] = command
    return control


def _signal_program(signum: int) -> None:
    """Signal the program's process group when the agent leads it (as under a viewer), else it."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signum)
    else:
        os.kill(os.getpid(), signum)


def _reset_ignored_signals() -> None:
    """Undo a SIGINT or SIGTERM ignored by whoever started the viewer (a background job has
    SIGINT ignored): the viewer stops the program with them."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _program_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drop the agent's and runpy's frames from the top, as `python script.py` shows none."""
    while tb is not None and tb.tb_frame.f_code.co_filename in _AGENT_FILES:
        tb = tb.tb_next
    return tb


# What python puts in __main__ before it runs a script or a module (what it put there for the
# agent's bootstrap, python -c, which the program's run keeps).
_MAIN_NAMES = ("__name__", "__doc__", "__package__", "__spec__", "__annotations__", "__builtins__")


def _empty_main() -> types.ModuleType:
    """The interpreter's own ``__main__`` (the bootstrap's), emptied of the bootstrap's names: the
    program runs in it as it would under python, the same module object and builtins."""
    main = sys.modules["__main__"]
    namespace = vars(main)
    kept = {name: namespace[name] for name in _MAIN_NAMES if name in namespace}
    namespace.clear()
    namespace.update(kept)
    return main


def _run_script(path: str) -> None:
    """Run a file as ``python path`` does, in ``__main__``, argv untouched."""
    import importlib.machinery
    import io

    main = _empty_main()
    main.__file__ = path
    if sys.version_info < (3, 15):  # 3.15 stopped setting __cached__ (deprecated since 3.13)
        main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    with io.open_code(path) as stream:
        source = stream.read()
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, vars(main))


def _run_main() -> None:
    """Run the ``__main__`` module of sys.path[0] (a directory or zip file) as python does."""
    _empty_main()
    runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]


def _run_module(name: str) -> None:
    """Run a module as ``python -m name`` does, with the function python uses for it: in
    ``__main__``, and "No module named ..." as python says it."""
    _empty_main()
    runpy._run_module_as_main(name, alter_argv=True)  # type: ignore[attr-defined]


def _report(exc: BaseException) -> None:
    """Print an uncaught exception through sys.excepthook, as the interpreter would."""
    exc.with_traceback(_program_traceback(exc.__traceback__))
    sys.excepthook(type(exc), exc, exc.__traceback__)


def _exit_status(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def run(
    trace_path: str,
    module: str | None,
    target: str,
    args: list[str],
    *,
    echo: bool = True,
    quiet: bool = False,
    keep_uvloop: bool = False,
    control: int | None = None,
    step: bool = False,
    block_ms: float = 100.0,
) -> None:
    """Run `target` (a script path, or a module name when `module`) and exit like Python does.

    Without `echo` the program's sys.stdout/sys.stderr text only goes into the trace; unless
    `quiet`, the agent says on stderr where the trace went; `keep_uvloop` keeps uvloop's loop,
    recorded from outside, instead of replacing it; `control` is the fd of a viewer's control
    pipe; `step` holds the program before its first handle, for the viewer to step it.
    """
    argv = [target, *args]
    try:
        agent = Agent(trace_path, argv, echo=echo, block_ms=block_ms, keep_uvloop=keep_uvloop,
                      tell=None if quiet else sys.stderr)  # fmt: skip
    except OSError as exc:
        print(f"loopviz: error: cannot write the trace to {trace_path}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None
    if control is not None:
        _reset_ignored_signals()
    agent.start()
    if step:
        stepper.install(hold=True)
    if control is not None:
        from . import acting  # a viewer's: asyncio is imported for it, whatever the program does

        steering = _steer(_Control(control, agent))
        actions = acting.Actions(agent.recorder)
        steering.commands["cancel"] = actions.cancel
        steering.commands["dump"] = actions.dump
        steering.start()
    sys.argv = argv if module is None else [module, *args]
    program = _program(module, target)
    try:
        program()
    except SystemExit as exc:
        agent.ended(_exit_status(exc.code), "")
        raise
    except BaseException as exc:
        _report(exc)
        killed = type(exc) is KeyboardInterrupt  # exactly: python dies by SIGINT for no subclass
        import traceback  # only now: its import is 3.5 ms (23 ms on 3.14) of every start-up

        agent.ended(-signal.SIGINT if killed else 1, "".join(traceback.format_exception(exc)))
        # The interpreter ends as it would have (status 1, or killed by SIGINT once it has
        # finished: threads joined, atexit functions run) without printing it a second time.
        sys.excepthook = _printed
        raise


def _program(module: str | None, target: str) -> Callable[[], None]:
    """What runs the program as python would run it (python -m module, python dir/ or python
    app.pyz, python script.py), once sys.path[0] is where python would have put it."""
    if module is not None:
        _set_path0(os.getcwd())
        return lambda: _run_module(module)
    if _holds_main(target):
        _set_path0(os.path.abspath(target), always=True)
        return _run_main
    _set_path0(os.path.dirname(os.path.realpath(target)))  # as python: symlinks resolved
    return lambda: _run_script(os.path.abspath(target))


def _holds_main(path: str) -> bool:
    """Whether python would run `path` as a directory or zip file holding ``__main__.py``."""
    if os.path.isdir(path):
        return True
    import zipimport

    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _set_path0(path: str, *, always: bool = False) -> None:
    """Make `path` the program's sys.path[0], where python would have put it: in place of the
    bootstrap's (python -c put the current directory there), or, under python -P, nowhere,
    unless `always` (a directory or zip file to run is put there even then)."""
    if not sys.flags.safe_path:
        sys.path[0] = path
    elif always:
        sys.path.insert(0, path)


def _printed(*exc_info: object) -> None:
    """sys.excepthook for an exception `_report` printed already."""


def main(argv: list[str] | None = None) -> None:
    """``agent [--no-echo] [--quiet] [--keep-uvloop] [--control FD] [--step] [--block-ms MS] --
    TRACE (-m MODULE | SCRIPT) args...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    echo, quiet, control, step, block_ms = True, False, None, False, watchdog.THRESHOLD_MS
    keep_uvloop = False
    while (option := argv.pop(0)) != "--":
        if option == "--no-echo":
            echo = False
        elif option == "--quiet":
            quiet = True
        elif option == "--keep-uvloop":
            keep_uvloop = True
        elif option == "--step":
            step = True
        elif option == "--block-ms":
            block_ms = float(argv.pop(0))
        elif option == "--control":
            control = int(argv.pop(0))
        else:
            raise SystemExit(f"loopviz agent: unknown option {option}")
    trace_path = argv.pop(0)
    module = argv[1] if argv[0] == "-m" else None
    target, args = (argv[1], argv[2:]) if module is not None else (argv[0], argv[1:])
    run(trace_path, module, target, args, echo=echo, quiet=quiet, keep_uvloop=keep_uvloop,
        control=control, step=step, block_ms=block_ms)  # fmt: skip
