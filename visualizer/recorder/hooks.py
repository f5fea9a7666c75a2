"""Recording every loop of a program from the moment it imports asyncio, and not before.

``loopviz record`` has a start-up budget (0.15 s over ``python``), and asyncio's own import is
about 40 ms of it: so the agent imports neither asyncio nor the recorder until the program
does. Standard library only (and the recorder's `core`), none of it importing asyncio.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import core


def record_loops(
    recorder: core.Recorder, *, keep_uvloop: bool = False, say: Callable[[str], None] | None = None
) -> None:
    """What ``loopviz record/run/step`` do before the program starts: every selector loop it
    makes records into `recorder` once asyncio is imported, and uvloop's loop is asyncio's; or
    with `keep_uvloop`, uvloop's own, recorded from outside by a subclass. `say` tells the
    person at the terminal, once, which of the two was done.
    """
    core.set_current(recorder)
    after_import("asyncio", lambda _: hook_loops(True))
    # Hooked now, not when asyncio is imported: uvloop imports asyncio itself, half-way through
    # its own import, when it is too late to watch for its end.
    if keep_uvloop:
        after_import("uvloop", lambda module: _install().keep_uvloop(module, recorder, say))
    else:
        after_import("uvloop", lambda module: _install().replace_uvloop(module, recorder, say))


def _install() -> Any:
    from . import install

    return install


_hook_users = 0
_hook_lock = threading.Lock()


def _new_loop(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BaseSelectorEventLoop.__new__`` while recording: a recording loop of the class asked."""
    # Imported at the first loop, not when the hook is set: that may be in the middle of the
    # recorder's own first import of asyncio (the stepper's clock imports `loop`).
    from .loop import recordable, recording_class

    if recordable(cls):
        cls = recording_class(cls)
    return object.__new__(cls)


def hook_loops(on: bool) -> None:
    """Turn recording of every new selector loop on (once per user) or off (when the last user
    is gone). Only once asyncio is imported."""
    global _hook_users
    from asyncio.selector_events import BaseSelectorEventLoop

    with _hook_lock:
        _hook_users += 1 if on else -1
        if on and _hook_users == 1:
            BaseSelectorEventLoop.__new__ = staticmethod(_new_loop)  # type: ignore[assignment]
        elif not on and _hook_users == 0 and "__new__" in vars(BaseSelectorEventLoop):
            del BaseSelectorEventLoop.__new__


class _AfterImport:
    """A meta path finder that runs `then(module)` once module `name` has been imported."""

    def __init__(self, name: str, then: Callable[[Any], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        import importlib.util

        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once, and not for the look-up just below
        spec = importlib.util.find_spec(fullname)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module
        then = self.then

        def exec_module(module: Any) -> None:
            run_module(module)
            try:
                then(module)
            except Exception:
                pass  # recording is the worse for it, never the program

        loader.exec_module = exec_module
        return spec


def after_import(name: str, then: Callable[[Any], None]) -> None:
    """Run `then(module)` when module `name` has been imported, or now if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
    else:
        sys.meta_path.insert(0, _AfterImport(name, then))
