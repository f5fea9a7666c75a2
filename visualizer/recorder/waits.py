"""What a suspended task waits on, and where: read from its await chain, never by changing it.

Everything here reads frames and code objects only; nothing keeps a reference to the program's
objects after it returns.
"""

from __future__ import annotations

import _socket
import asyncio
import functools
import gc
import opcode
import os
import sys
from types import CodeType, CoroutineType, FrameType, GeneratorType, ModuleType
from typing import Any

from ..trace import schema

ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _codes(*functions: Any) -> list[CodeType]:
    return [f.__code__ for f in functions if f is not None and hasattr(f, "__code__")]


def _primitive_codes() -> dict[CodeType, int]:
    """The asyncio coroutines a task can be suspended in, mapped to a WAIT_* kind."""
    from asyncio import locks, queues, streams, tasks, threads

    taskgroup = asyncio.TaskGroup
    table: list[tuple[list[CodeType], int]] = [
        (_codes(queues.Queue.get), schema.WAIT_QUEUE_GET),
        (_codes(queues.Queue.put), schema.WAIT_QUEUE_PUT),
        (_codes(locks.Lock.acquire), schema.WAIT_LOCK),
        (_codes(locks.Event.wait), schema.WAIT_EVENT),
        (_codes(locks.Semaphore.acquire), schema.WAIT_SEMAPHORE),
        (_codes(locks.Condition.wait, getattr(locks.Condition, "wait_for", None)),
         schema.WAIT_CONDITION),
        (_codes(getattr(locks, "Barrier", None) and locks.Barrier.wait,
                getattr(locks.Barrier, "_block", None), getattr(locks.Barrier, "_wait", None)),
         schema.WAIT_BARRIER),
        (_codes(taskgroup.__aexit__, getattr(taskgroup, "_aexit", None)), schema.WAIT_TASKGROUP),
        (_codes(tasks.sleep), schema.WAIT_SLEEP),
        (_codes(tasks.wait, getattr(tasks, "_wait", None)), schema.WAIT_WAIT),
        (_codes(threads.to_thread), schema.WAIT_THREAD),
        (_codes(streams.StreamReader._wait_for_data), schema.WAIT_IO_READ),
        (_codes(streams.StreamWriter.drain, streams.FlowControlMixin._drain_helper),
         schema.WAIT_IO_WRITE),
    ]  # fmt: skip
    from asyncio import selector_events

    loop_cls = selector_events.BaseSelectorEventLoop
    for name in ("sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into",
                 "sock_accept"):  # fmt: skip
        table.append((_codes(getattr(loop_cls, name, None)), schema.WAIT_IO_READ))
    for name in ("sock_sendall", "sock_sendto", "sock_connect"):
        table.append((_codes(getattr(loop_cls, name, None)), schema.WAIT_IO_WRITE))
    return {code: kind for codes, kind in table for code in codes}


PRIMITIVES = _primitive_codes()
_get_referents = gc.get_referents
_YIELD_VALUE = bytes([opcode.opmap["YIELD_VALUE"]])
# By id: hashing a code object rehashes its constants (about 400 ns on 3.12+), and these live
# as long as asyncio does.
_SOCK_CODE_IDS = frozenset(
    id(code) for code in PRIMITIVES if "sock" in code.co_varnames[: code.co_argcount]
)


def await_chain(coro: Any) -> list[Any]:
    """The coroutines and generators of a suspended await chain, outermost first."""
    chain = []
    obj = coro
    while obj is not None:
        if getattr(obj, "cr_frame", None) is not None:
            chain.append(obj)
            obj = obj.cr_await
        elif getattr(obj, "gi_frame", None) is not None:
            chain.append(obj)
            obj = obj.gi_yieldfrom
        else:
            break
    return chain


def frame_of(coro: Any) -> FrameType:
    frame = getattr(coro, "cr_frame", None)
    return frame if frame is not None else coro.gi_frame


def chain_key(
    coro: Any, several: set[int], future_iter: type
) -> tuple[tuple[int, ...] | None, Any]:
    """The key a suspended chain is cached by, and its innermost coroutine or generator:
    each code's id, followed by f_lasti for a generator and for a coroutine whose code is in
    `several` (it can be suspended at more than one place). The key is None when the chain
    holds another kind of awaitable before the future it awaits (a Cython coroutine, say)."""
    key: list[int] = []
    append = key.append
    last = None
    obj = coro
    while True:
        if type(obj) is CoroutineType:
            cid = id(obj.cr_code)
            append(cid)
            if cid in several:
                append(obj.cr_frame.f_lasti)
            last, obj = obj, obj.cr_await
        elif type(obj) is GeneratorType and obj.gi_frame is not None:
            append(id(obj.gi_code))
            append(obj.gi_frame.f_lasti)
            last, obj = obj, obj.gi_yieldfrom
        else:
            break
    if obj is not None and type(obj) is not future_iter:
        return None, last
    return tuple(key), last


def chain_checks(
    coro: Any, several: set[int], future_iter: type
) -> tuple[tuple[CodeType, int], ...] | None:
    """What tells a suspended chain of coroutines again, below its outermost coroutine:
    (code, f_lasti) for each level, f_lasti -1 where the code can be suspended at one place
    only. None when the chain holds anything but coroutines before the future it awaits."""
    checks = []
    obj = coro.cr_await
    while type(obj) is CoroutineType:
        code = obj.cr_code
        checks.append((code, obj.cr_frame.f_lasti if id(code) in several else -1))
        obj = obj.cr_await
    if obj is not None and type(obj) is not future_iter:
        return None
    return tuple(checks)


def innermost(coro: Any) -> Any:
    """The innermost coroutine of a chain of coroutines."""
    while type(coro.cr_await) is CoroutineType:
        coro = coro.cr_await
    return coro


def primitive_of(frames: list[FrameType]) -> int:
    """The WAIT_* kind named by the innermost asyncio primitive in the chain, or 0."""
    for frame in reversed(frames):
        kind = PRIMITIVES.get(frame.f_code)
        if kind:
            return kind
    return 0


def io_fd(frame: FrameType) -> int:
    """The file descriptor an I/O wait is on, read from its asyncio frame (`PRIMITIVES`); or 0.

    Streams keep it on their transport (``_sock_fd``), ``loop.sock_*`` get the socket as an
    argument. Reading a suspended frame's locals runs none of the program's code.
    """
    try:
        local = frame.f_locals
        if id(frame.f_code) in _SOCK_CODE_IDS:
            # the C method itself: a socket subclass's fileno() is the program's code
            sock = local.get("sock")
            fd = _socket.socket.fileno(sock) if isinstance(sock, _socket.socket) else 0
        else:
            fd = getattr(getattr(local.get("self"), "_transport", None), "_sock_fd", 0)
        return fd if isinstance(fd, int) and fd > 0 else 0
    except Exception:
        return 0


def suspension_points(code: CodeType) -> int:
    """How many places a coroutine or generator of `code` can be suspended at: its
    YIELD_VALUE instructions (every ``await`` and ``yield`` has one, 3.11 on). Instructions
    are two bytes, the opcode first."""
    return code.co_code[::2].count(_YIELD_VALUE)


# An I/O wait whose fd is read from its frame's locals (the slot could not be learnt).
IO_BY_FRAME = (0, None, False)


def io_slot(coro: Any, frame: FrameType) -> tuple[int, Any, bool]:
    """Where an I/O wait's stream or socket sits among ``gc.get_referents(coro)``, counted
    from the end, with its type: so that the next coroutine of the same code, suspended at the
    same place, gives it up without a frame object (making one costs the coroutine twice).

    The referents of a suspended coroutine are its frame's locals and stack, in order, after a
    head that varies (a frame object, an exception being handled); the tail does not.
    """
    sockish = id(frame.f_code) in _SOCK_CODE_IDS
    try:
        target = frame.f_locals.get("sock" if sockish else "self")
    except Exception:
        return IO_BY_FRAME
    refs = _get_referents(coro)
    for i in range(len(refs) - 1, -1, -1):
        if refs[i] is target:
            return i - len(refs), type(target), sockish
    return IO_BY_FRAME


def io_fd_at(coro: Any, slot: tuple[int, Any, bool]) -> tuple[int, Any]:
    """The fd of an I/O wait, read where `io_slot` found its stream or socket (checked by
    type), with that object; else from the coroutine's frame, with None."""
    at, tp, sockish = slot
    refs = _get_referents(coro) if at else []
    if len(refs) >= -at > 0:
        obj = refs[at]
        if type(obj) is tp:
            try:
                fd = _socket.socket.fileno(obj) if sockish else obj._transport._sock_fd
            except Exception:
                return 0, None
            return (fd if type(fd) is int and fd > 0 else 0), obj
    frame = (
        coro
        if isinstance(coro, FrameType)
        else getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    )
    return (io_fd(frame) if frame is not None else 0), None


def format_site(code: CodeType, lineno: int | None) -> str:
    """``path:line in function``, the way a person reads a stack."""
    return f"{code.co_filename}:{lineno or code.co_firstlineno} in {code.co_qualname}"


_LIBRARY_DIRS: tuple[str, ...] = (ASYNCIO_DIR, _OWN_DIR)


def _library_dirs() -> tuple[str, ...]:
    """asyncio's and loopviz's folders, and uvloop's once it is imported (its ``run`` and
    ``Loop`` stand where asyncio's would: the program's own line is further out)."""
    global _LIBRARY_DIRS
    if len(_LIBRARY_DIRS) == 2:
        uvloop = sys.modules.get("uvloop")
        where = getattr(uvloop, "__file__", None)
        if isinstance(where, str):
            _LIBRARY_DIRS = (*_LIBRARY_DIRS, os.path.dirname(where) + os.sep)
    return _LIBRARY_DIRS


def is_library_frame(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_library_dirs())


def caller_site(frame: FrameType | None) -> FrameType | None:
    """The first frame outside asyncio and loopviz, walking outwards from `frame`.

    When the walk reaches the loop itself first (a task made by one of asyncio's own callbacks,
    such as a server accepting a connection), the line outside the loop would only be
    ``asyncio.run(...)``: then `frame`, asyncio's own line, is the truer answer.
    """
    start = frame
    while frame is not None and is_library_frame(frame):
        if frame.f_code.co_filename.startswith(_OWN_DIR):
            return start
        frame = frame.f_back
    return frame


def strip_own_frames(stack: list[Any]) -> None:
    """Remove loopviz's frames from a debug-mode ``_source_traceback`` (a list of FrameSummary)."""
    stack[:] = [entry for entry in stack if not entry.filename.startswith(_OWN_DIR)]


def coro_name(coro: Any) -> str:
    """A coroutine's qualified name (or its type's, for an awaitable that has none)."""
    return getattr(coro, "__qualname__", None) or type(coro).__qualname__


def task_label(task: Any) -> str:
    """``Task-2 main()``: a task's name and coroutine, as the viewer labels a task."""
    return f"{task.get_name()} {coro_name(task.get_coro())}()"


def describe_callback(callback: Any) -> str:
    """A short name for a callback: its qualified name, looking through partial and methods."""
    if isinstance(callback, functools.partial):
        return f"partial({describe_callback(callback.func)})"
    function = getattr(callback, "__func__", callback)
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if name is None:
        return type(callback).__qualname__
    owner = getattr(callback, "__self__", None)
    if owner is not None and not isinstance(owner, (type, ModuleType)) and "." not in name:
        # a builtin bound method: say whose
        return f"{type(owner).__qualname__}.{name}"
    return name


def format_exception(exc: BaseException) -> str:
    """Traceback text for an exception, never raising."""
    import traceback

    try:
        return "".join(traceback.format_exception(exc)).rstrip()
    except Exception:  # a broken __str__ must not break the recorder
        return f"{type(exc).__qualname__}: <unprintable>"


def python_step_functions() -> frozenset[Any]:
    """The step and wakeup functions of the pure-Python Task, which the C Task doesn't use."""
    py_task = getattr(sys.modules["asyncio.tasks"], "_PyTask", None)
    names = ("_Task__step", "_Task__wakeup")
    return frozenset(getattr(py_task, name) for name in names if hasattr(py_task, name))
