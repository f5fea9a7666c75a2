"""loopviz: see what Python's asyncio event loop is doing.

Public API: `record()`, `install()`, `mark()`, `RecordingEventLoop`, `RecordingEventLoopPolicy`
and `loop_factory`.

They are imported when first used, not with the package: ``loopviz record`` starts the program
it records without importing asyncio twice (its start-up budget is 0.15 s over ``python``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs record's start-up 4 ms
if TYPE_CHECKING:
    from typing import Any

    from .recorder.install import (
        Recording,
        RecordingEventLoopPolicy,
        install,
        loop_factory,
        mark,
        record,
    )
    from .recorder.loop import RecordingEventLoop

__all__ = [
    "Recording",
    "RecordingEventLoop",
    "RecordingEventLoopPolicy",
    "install",
    "loop_factory",
    "mark",
    "record",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .recorder import install as install_module
    from .recorder import loop as loop_module

    value = getattr(loop_module if name == "RecordingEventLoop" else install_module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
