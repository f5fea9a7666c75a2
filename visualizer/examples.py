"""The example programs, in the order they teach asyncio: found, listed and chosen by name.

They live in ``examples/`` beside the package in a source checkout (and an editable install),
and in ``<prefix>/share/loopviz/examples`` when loopviz is installed from a wheel.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# One idea each, simplest first; any other example found comes after these, by name.
ORDER = (
    "hello", "gather_sleeps", "create_task_vs_await", "producer_consumer", "blocking_call",
    "cancel_timeout", "taskgroup_failure", "semaphore_limit", "echo_server", "async_generators",
    "graceful_shutdown", "pubsub_broker", "forgotten_task",
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    number: int  # from 1, in ORDER
    name: str
    path: Path
    summary: str  # the first line of its docstring


def examples_dir() -> Path | None:
    """Where the examples are, or None when this installation has none."""
    for folder in (
        Path(__file__).resolve().parent.parent / "examples",
        Path(sys.prefix) / "share" / "loopviz" / "examples",
    ):
        if (folder / "hello.py").is_file():
            return folder
    return None


def _summary(path: Path) -> str:
    try:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, UnicodeDecodeError):
        docstring = None
    return docstring.strip().splitlines()[0] if docstring else ""


def catalogue(folder: Path | None = None) -> list[Example]:
    """Every example, in teaching order."""
    folder = folder if folder is not None else examples_dir()
    if folder is None:
        return []
    names = sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("_"))
    ordered = [name for name in ORDER if name in names]
    ordered += [name for name in names if name not in ORDER]
    return [Example(n, name, folder / f"{name}.py", _summary(folder / f"{name}.py"))
            for n, name in enumerate(ordered, 1)]  # fmt: skip


def find(choice: str, examples: list[Example]) -> Example | None:
    """An example by its number, its name, or its file name; None if there is no such one."""
    choice = os.path.basename(choice.strip())
    if choice.isdigit():
        number = int(choice)
        return next((e for e in examples if e.number == number), None)
    name = choice.removesuffix(".py")
    return next((e for e in examples if e.name == name), None)


def listing(examples: list[Example]) -> str:
    """One line each: number, name, what it shows."""
    width = max((len(e.name) for e in examples), default=0)
    return "\n".join(f"{e.number:3}  {e.name:<{width}}  {e.summary}" for e in examples)
