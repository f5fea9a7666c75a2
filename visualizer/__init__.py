"""loopviz: see what Python's asyncio event loop is doing.

Public API: `record()`, `install()`, `mark()`, `RecordingEventLoop`, `RecordingEventLoopPolicy`
and `loop_factory`.
"""

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
