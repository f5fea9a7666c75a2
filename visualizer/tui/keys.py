"""Every key of the viewer, declared once: the bindings, the footer and the help screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str
    description: str  # short, for the footer
    help: str  # a sentence, for the help screen
    show: bool = True  # in the footer
    label: str = ""  # how the help screen writes the keys, when not just the key names
    # Handled before the focused widget sees the key, so the keys typed right after it find
    # the state it made (the filter's input focused), not the one before.
    priority: bool = False


APP_KEYS: tuple[Key, ...] = (
    Key("q", "quit", "Quit", "Quit the viewer; a program still running is stopped."),
    Key("question_mark", "help", "Help", "Show every key.", label="?"),
    Key(
        "space",
        "pause",
        "Pause",
        "Hold the program between two callbacks, its clock stopped; again to run on.",
    ),
    Key("r", "restart", "Restart", "Stop the program and run it again from the start."),
    Key("tab", "focus_next", "Next pane", "Move the focus to the next pane.", show=False),
    Key("W", "warnings", "Warnings", "Show what the warning rules found; Enter goes to it."),
    Key(
        "T",
        "tree",
        "Tree",
        "Tasks as a tree: who created whom, or (Tab) who waits on whom.",
        show=False,
    ),  # fmt: skip
    Key(
        "D", "dump", "Dump", "Write every task's stack to a file next to the trace.", show=False
    ),  # fmt: skip
    Key("z", "zoom", "Zoom", "Let the focused pane fill the screen; again to go back."),
    Key("t", "timeline", "Timeline", "Switch the main area between the tasks and the timeline."),
    Key("n", "live", "Now", "Bring the time cursor back to now: every view live again."),
    Key("l", "next_loop", "Loop", "Show the next event loop in the loop pane.", show=False),
)

TASK_KEYS: tuple[Key, ...] = (
    Key("enter", "open", "Details", "Open the highlighted task's details.", show=False),
    Key(
        "slash",
        "filter",
        "Filter",
        "Filter tasks as you type (name, coroutine, state).",
        label="/",
        priority=True,
    ),  # fmt: skip
    Key(
        "less_than_sign,greater_than_sign",
        "sort(-1),sort(1)",
        "Sort",
        "Sort by the previous / next column.",
        label="< >",
    ),  # fmt: skip
    Key("i", "invert", "Invert", "Invert the sort order."),
    Key("d", "toggle_done", "Done", "Show or hide finished tasks."),
    Key("f", "follow", "Follow", "Keep the cursor on the newest task as tasks arrive."),
    Key("C", "cancel_task", "Cancel", "Cancel the highlighted task (asks first).", show=False),
)

OUTPUT_KEYS: tuple[Key, ...] = (
    Key("end", "follow_output", "Follow", "Jump to the newest output and follow it.", show=False),
)

DETAIL_KEYS: tuple[Key, ...] = (
    Key("escape", "back", "Back", "Go back to the tasks."),
    Key("p", "parent", "Parent", "Open the task that created this one."),
    Key("w", "waited", "Awaited", "Open the task this one waits on."),
    Key("C", "cancel_shown", "Cancel", "Cancel this task (asks first)."),
    Key(
        "tab",
        "focus_next",
        "Next list",
        "Move between the children and the events list.",
        show=False,
    ),  # fmt: skip
)

TIME_KEYS: tuple[Key, ...] = (
    Key("p", "play", "Play", "Play the run from the time cursor (pause with p again)."),
    Key("x", "speed(2)", "Faster", "Play twice as fast.", show=False),
    Key("X", "speed(0.5)", "Slower", "Play half as fast.", show=False),
    Key(
        "e",
        "event(1)",
        "Next event",
        "Cursor to the next event (a step, a select, output...).",
        show=False,
    ),  # fmt: skip
    Key("E", "event(-1)", "Prev event", "Cursor to the previous event.", show=False),
    Key(
        "right_curly_bracket",
        "iteration(1)",
        "Next iteration",
        "Cursor to the next loop iteration (the next select).",
        show=False,
        label="}",
    ),
    Key(
        "left_curly_bracket",
        "iteration(-1)",
        "Prev iteration",
        "Cursor to the previous loop iteration.",
        show=False,
        label="{",
    ),
    Key(
        "s", "task_step(1)", "Next step", "Cursor to the selected task's next step.", show=False
    ),  # fmt: skip
    Key(
        "S",
        "task_step(-1)",
        "Prev step",
        "Cursor to the selected task's previous step.",
        show=False,
    ),  # fmt: skip
    Key(
        "k",
        "blocked(1)",
        "Next block",
        "Cursor to the next callback or step that held the loop 100 ms+.",
        show=False,
    ),
    Key(
        "K",
        "blocked(-1)",
        "Prev block",
        "Cursor to the previous such callback or step.",
        show=False,
    ),
    Key("g", "jump(0)", "Start", "Cursor to the start of the run.", show=False),
    Key("G", "jump(1)", "End", "Cursor to the end of the run.", show=False),
    Key(
        "w", "to_waker", "Waker", "Jump to the step that woke the selected task's step.", show=False
    ),  # fmt: skip
    Key(
        "b", "back", "Back", "Jump back to where the cursor was before the last jump.", show=False
    ),  # fmt: skip
)

STEP_KEYS: tuple[Key, ...] = (
    Key(
        "full_stop",
        "step",
        "Step",
        "Run one callback and hold again (in the past: the cursor to the next step).",
        label=".",
    ),  # fmt: skip
    Key(
        "comma",
        "step_back",
        "Back",
        "Move the cursor back over what already ran, one step.",
        label=",",
    ),  # fmt: skip
    Key(
        "c", "go_on", "Continue", "Let the program run on (space or . holds it again).", show=False
    ),  # fmt: skip
    Key("u", "until_task", "Until task", "Run until the selected task's next step.", show=False),
    Key(
        "o",
        "until_kind",
        "Until event",
        "Run until the next event of the kind chosen with O.",
        show=False,
    ),  # fmt: skip
    Key(
        "O",
        "choose_kind",
        "Kind",
        "Choose it: task created, task done, I/O, timer, output, error.",
        show=False,
    ),  # fmt: skip
    Key("a", "autoplay", "Auto", "Step on by itself at the speed set with x and X; a to stop."),
    Key("v", "internals", "Internals", "Show or hide the loop internals view (the stepper's)."),
)

GROUPS: tuple[tuple[str, tuple[Key, ...]], ...] = (
    ("Everywhere", APP_KEYS),
    ("Stepping a program", STEP_KEYS),
    ("Time travel (replay)", TIME_KEYS),
    ("Tasks table", TASK_KEYS),
    ("Output pane", OUTPUT_KEYS),
    ("Task details", DETAIL_KEYS),
)


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    """Textual bindings for a group (a key pair with two actions makes two bindings)."""
    result: list[Binding] = []
    for key in keys:
        names = key.keys.split(",")
        actions = key.action.split(",")
        if len(actions) == len(names) > 1:
            for index, (name, action) in enumerate(zip(names, actions, strict=True)):
                result.append(Binding(name, action, key.description, show=key.show and index == 0,
                                      key_display=key.label or None))  # fmt: skip
        else:
            result.append(Binding(key.keys, key.action, key.description, show=key.show,
                                  key_display=key.label or None,
                                  priority=key.priority))  # fmt: skip
    return result


def key_label(key: Key) -> str:
    if key.label:
        return key.label
    return " ".join(name.replace("_", " ") for name in key.keys.split(","))
