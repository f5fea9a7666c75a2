"""Drive the viewer headless: build an app on a trace, press keys, read the screen as text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session


def screen_text(app: LoopvizApp) -> str:
    """What the terminal would show, as plain text (one line per row)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(app: LoopvizApp, pilot: Any, timeout: float = 10.0) -> None:
    """Wait until the session has read everything it will read, then redraw."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not app.session.finished and asyncio.get_running_loop().time() < deadline:
        await pilot.pause(0.05)
    app.tick()
    await pilot.pause()


def drive(
    trace: Path,
    steps: Callable[[LoopvizApp, Any], Awaitable[Any]],
    size: tuple[int, int] = (120, 36),
) -> Any:
    """Run the app on a recorded trace and `steps(app, pilot)` against it; return its result."""

    async def main() -> Any:
        app = LoopvizApp(Session(str(trace), None, title="shop.py"))
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            return await steps(app, pilot)

    return asyncio.run(main())
