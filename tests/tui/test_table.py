"""The generic table: sort, filter, cursor, follow, narrow layouts and what its lines show.

No asyncio plugin is installed, so each test runs its headless app with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from visualizer.tui.widgets.table import Column, Table, layout_columns

pytestmark = pytest.mark.once  # the same on every Python: see pyproject.toml


@dataclass
class Job:
    id: int
    name: str
    state: str
    cpu: int
    note: str = ""


COLUMNS = [
    Column("id", "ID", 4, lambda j: str(j.id), lambda j: j.id, "right", priority=3),
    Column("name", "Name", 12, lambda j: j.name, lambda j: j.name, priority=5, flex=True),
    Column("state", "State", 8, lambda j: Text(j.state, "green"), lambda j: j.state, priority=2),
    Column("cpu", "CPU", 6, lambda j: f"{j.cpu}%", lambda j: j.cpu, "right", 1, searchable=False),
    Column("note", "Note", 10, lambda j: j.note, priority=0, searchable=False),
]

JOBS = [
    Job(1, "fetch", "waiting", 30),
    Job(2, "parse", "running", 10),
    Job(3, "Store", "done", 20, note="archived"),
    Job(4, "notify", "sleeping", 40),
]


class TableApp(App[None]):
    """A screen holding one table; it keeps the messages the table posts."""

    def __init__(self, table: Table) -> None:
        super().__init__()
        self.table = table
        self.highlighted: list[Job] = []
        self.selected: list[Job] = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_mount(self) -> None:
        self.table.focus()

    def on_table_highlighted(self, message: Table.Highlighted) -> None:
        self.highlighted.append(message.row)

    def on_table_selected(self, message: Table.Selected) -> None:
        self.selected.append(message.row)


Scenario = Callable[[Pilot[None], TableApp], Awaitable[None]]


def make_table(**options) -> Table:
    options.setdefault("row_key", lambda job: job.id)
    return Table(COLUMNS, **options)


def run(table: Table, scenario: Scenario, size: tuple[int, int] = (80, 24)) -> TableApp:
    """Mount `table` in a headless app of `size`, run `scenario`, return the app."""
    app = TableApp(table)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot, app)

    asyncio.run(main())
    return app


def lines(table: Table) -> list[str]:
    """The text of every line the table shows, header first."""
    return [table.render_line(y).text for y in range(table.size.height)]


def ids(table: Table) -> list[int]:
    return [job.id for job in table.displayed_rows]


def many_jobs(n: int) -> list[Job]:
    return [Job(i, f"job-{i}", "ready", i % 100) for i in range(n)]


def test_lines_show_the_header_and_each_rows_cells_in_their_columns() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        await pilot.pause()
        header, first, *_ = lines(app.table)
        assert header.split() == ["ID", "Name", "State", "CPU", "Note"]
        assert first.split() == ["1", "fetch", "waiting", "30%"]
        assert first.startswith("   1 fetch ")  # ids right-aligned in 4 cells
        assert lines(app.table)[3].split() == ["3", "Store", "done", "20%", "archived"]
        assert header.index("CPU") + len("CPU") == first.index("30%") + len("30%")

    run(make_table(), scenario)


def test_a_cell_too_long_for_its_column_ends_with_an_ellipsis() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows([Job(1, "x", "waiting-for-a-long-time", 1)])
        await pilot.pause()
        assert "waiting…" in lines(app.table)[1]

    run(make_table(), scenario)


def test_sort_by_orders_rows_and_the_same_key_again_reverses() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(JOBS)
        table.sort_by("cpu")
        await pilot.pause()
        assert ids(table) == [2, 3, 1, 4]
        assert "CPU▲" in lines(table)[0]
        assert lines(table)[1].split()[:2] == ["2", "parse"]

        table.sort_by("cpu")
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("cpu", True)
        assert ids(table) == [4, 1, 3, 2]
        assert "CPU▼" in lines(table)[0]

        table.invert()
        assert ids(table) == [2, 3, 1, 4]
        table.sort_by("name")  # a new column starts ascending
        assert ids(table) == [3, 1, 4, 2]  # "Store" < "fetch": the key decides, not the widget

    run(make_table(), scenario)


def test_sorting_a_column_without_sort_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not sortable"):
        make_table().sort_by("note")


def test_cycle_sort_steps_through_the_sortable_columns() -> None:
    table = make_table()
    table.cycle_sort(1)
    assert table.sort_column == "id"
    table.cycle_sort(1)
    assert table.sort_column == "name"
    table.cycle_sort(-1)
    table.cycle_sort(-1)
    assert table.sort_column == "cpu"  # wraps around, skipping "note"


def test_sort_calls_the_sort_key_once_per_row() -> None:
    calls = []
    column = Column("n", "N", 5, str, sort_key=lambda n: calls.append(n) or n)
    table = Table([column], row_key=lambda n: n)
    table.set_rows(list(range(1000, 0, -1)))
    table.sort_by("n")
    assert len(calls) == 1000
    assert table.displayed_rows[:3] == [1, 2, 3]


def test_clicking_a_header_sorts_by_that_column() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        await pilot.pause()
        x = lines(app.table)[0].index("State")
        await pilot.click(Table, offset=(x + 1, 0))
        await pilot.pause()
        assert app.table.sort_column == "state"
        assert [job.state for job in app.table.displayed_rows] == [
            "done",
            "running",
            "sleeping",
            "waiting",
        ]

    run(make_table(), scenario)


def test_filter_hides_rows_that_do_not_match_ignoring_case() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(JOBS)
        table.filter_text = "st"
        await pilot.pause()
        assert ids(table) == [3]  # "Store"
        assert [line.split()[:2] for line in lines(table)] == [["ID", "Name"], ["3", "Store"]]
        table.filter_text = "ING"
        assert ids(table) == [1, 2, 4]  # the states, which are Rich Text cells
        table.filter_text = "archived"
        assert ids(table) == []  # the note column is not searchable
        await pilot.pause()
        assert "no rows match 'archived'" in lines(table)[1]
        table.filter_text = ""
        assert ids(table) == [1, 2, 3, 4]

    run(make_table(), scenario)


def test_rows_that_grew_in_place_since_the_last_refresh_never_read_as_filtered_out() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.empty_text = "Reading the trace…"
        rows: list = []
        table.set_rows(rows)  # the model's own list, empty at first
        rows.extend(JOBS)  # it grows before the next refresh
        table.refresh()
        await pilot.pause()
        assert "Reading the trace…" in lines(table)[1] and "match" not in lines(table)[1]
        table.refresh_rows()
        assert ids(table) == [1, 2, 3, 4]

    run(make_table(), scenario)


def test_a_matcher_replaces_the_default_search() -> None:
    table = make_table(matcher=lambda job, text: job.cpu >= int(text))
    table.set_rows(JOBS)
    table.filter_text = "30"
    assert ids(table) == [1, 4]


def test_filter_and_sort_apply_to_new_rows() -> None:
    table = make_table()
    table.sort_by("cpu", reverse=True)
    table.filter_text = "a"
    table.set_rows(JOBS)
    assert ids(table) == [1, 2]  # fetch 30%, parse 10%; Store has no "a" in a searched cell


def test_cursor_keys_move_and_enter_selects_the_highlighted_row() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(JOBS)
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        assert table.current is JOBS[2]
        await pilot.press("up")
        assert table.current is JOBS[1]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == [JOBS[1]]
        assert app.highlighted == [JOBS[0], JOBS[1], JOBS[2], JOBS[1]]
        await pilot.press("end")
        assert table.current is JOBS[-1]
        await pilot.press("down")  # past the end: stays
        assert table.cursor_row == 3
        await pilot.press("home")
        assert table.cursor_row == 0

    run(make_table(), scenario)


def test_the_cursor_row_is_styled_by_the_cursor_component_class() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        await pilot.pause()
        cursor_bg = app.table.get_component_rich_style("table--cursor").bgcolor
        first, second = app.table.render_line(1), app.table.render_line(2)
        assert {segment.style.bgcolor for segment in first} == {cursor_bg}
        assert cursor_bg not in {segment.style.bgcolor for segment in second}

    run(make_table(), scenario)


def test_the_cursor_row_is_drawn_again_when_the_table_loses_focus() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        await pilot.pause()
        focused = {segment.style.bgcolor for segment in app.table.render_line(1)}
        app.set_focus(None)
        await pilot.pause()
        blurred = {segment.style.bgcolor for segment in app.table.render_line(1)}
        assert blurred == {app.table.get_component_rich_style("table--cursor").bgcolor}
        assert blurred != focused

    run(make_table(), scenario)


def test_row_style_applies_to_the_whole_row_and_cells_keep_their_colours() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        app.table.cursor_row = 3
        await pilot.pause()
        done = list(app.table.render_line(3))  # "Store", done: dim
        assert all(segment.style.dim for segment in done)
        state = next(segment for segment in done if segment.text.startswith("done"))
        assert state.style.color.name == "green"
        assert not any(segment.style.dim for segment in app.table.render_line(1))

    run(make_table(row_style=lambda job: "dim" if job.state == "done" else ""), scenario)


def test_page_keys_move_a_screen_and_the_view_scrolls_to_the_cursor() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(many_jobs(100))
        await pilot.pause()  # laid out: a page is as tall as the table (under load it may not be)
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row == 9  # 10 lines: the header and 9 rows
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row == 18
        shown = lines(table)
        assert shown[0].split()[:2] == ["ID", "Name"]  # the header stays on top
        assert shown[-1].split()[:2] == ["18", "job-18"]
        await pilot.press("end")
        await pilot.pause()
        assert lines(table)[-1].split()[:2] == ["99", "job-99"]
        await pilot.press("pageup")
        await pilot.pause()
        assert table.cursor_row == 90
        assert lines(table)[1].split()[:2] == ["90", "job-90"]

    run(make_table(), scenario, size=(80, 10))


def test_clicking_a_row_highlights_it_and_clicking_it_again_selects_it() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(JOBS)
        await pilot.pause()
        await pilot.click(Table, offset=(6, 3))
        await pilot.pause()
        assert app.table.current is JOBS[2]
        assert app.selected == []
        await pilot.click(Table, offset=(6, 3))
        await pilot.pause()
        assert app.selected == [JOBS[2]]

    run(make_table(), scenario)


def test_the_cursor_stays_on_the_same_row_key_when_rows_are_reordered() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(JOBS)
        await pilot.press("down")
        assert table.current.id == 2
        fresh = [Job(j.id, j.name, j.state, j.cpu) for j in reversed(JOBS)]
        table.set_rows(fresh)
        assert table.cursor_row == 2
        assert table.current is fresh[2]
        table.sort_by("cpu", reverse=True)
        assert table.current.id == 2
        assert table.cursor_row == 3
        await pilot.pause()
        assert lines(table)[4].split()[0] == "2"
        assert [job.id for job in app.highlighted] == [1, 2]  # nothing new: same row

    run(make_table(), scenario)


def test_when_the_highlighted_row_goes_the_cursor_stays_at_its_place() -> None:
    table = make_table()
    table.set_rows(JOBS)
    table.cursor_row = 3
    table.set_rows(JOBS[:2])
    assert table.cursor_row == 1
    assert table.current is JOBS[1]


def test_refresh_rows_shows_rows_changed_in_place() -> None:
    jobs = [Job(j.id, j.name, j.state, j.cpu) for j in JOBS]

    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows(jobs)
        table.sort_by("cpu")
        await pilot.pause()
        assert lines(table)[1].split()[:2] == ["2", "parse"]
        jobs[1].cpu = 99
        table.refresh_rows()
        await pilot.pause()
        assert ids(table) == [3, 1, 4, 2]
        assert lines(table)[4].split() == ["2", "parse", "running", "99%"]
        jobs[0].name = "renamed"  # a row that stays where it was drawn
        table.refresh_rows()
        await pilot.pause()
        assert lines(table)[2].split()[:2] == ["1", "renamed"]

    run(make_table(), scenario)


def test_follow_keeps_the_cursor_on_the_last_row_until_the_user_moves_up() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.follow = True
        jobs = many_jobs(5)
        table.set_rows(jobs)
        assert table.cursor_row == 4
        jobs.extend(many_jobs(50)[5:])
        table.set_rows(jobs)
        await pilot.pause()
        assert table.current.id == 49
        assert lines(table)[-1].split()[:2] == ["49", "job-49"]  # scrolled to the end
        await pilot.press("up")
        assert not table.follow
        assert table.current.id == 48
        jobs.extend(many_jobs(60)[50:])
        table.set_rows(jobs)
        assert table.current.id == 48
        table.follow = True
        assert table.current.id == 59

    run(make_table(), scenario, size=(80, 10))


@pytest.mark.parametrize("width", range(0, 60))
def test_columns_never_take_more_than_the_width(width: int) -> None:
    placed = layout_columns(COLUMNS, width)
    assert placed, "at least one column is always shown"
    assert placed[-1].x + placed[-1].width <= width
    shown = {place.column.key for place in placed}
    dropped = [column.priority for column in COLUMNS if column.key not in shown]
    kept = [column.priority for column in COLUMNS if column.key in shown]
    assert not dropped or max(dropped) <= min(kept)


def test_narrow_widths_shrink_the_flex_column_then_drop_the_lowest_priority() -> None:
    def shown(width: int) -> list[tuple[str, int]]:
        return [(place.column.key, place.width) for place in layout_columns(COLUMNS, width)]

    assert shown(80) == [("id", 4), ("name", 48), ("state", 8), ("cpu", 6), ("note", 10)]
    assert shown(44) == [("id", 4), ("name", 12), ("state", 8), ("cpu", 6), ("note", 10)]
    assert shown(40) == [("id", 4), ("name", 8), ("state", 8), ("cpu", 6), ("note", 10)]
    assert shown(30) == [("id", 4), ("name", 9), ("state", 8), ("cpu", 6)]
    assert shown(20) == [("id", 4), ("name", 15)]
    assert shown(5) == [("name", 5)]


def test_a_narrow_table_draws_lines_exactly_as_wide_as_itself() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        table.set_rows([*JOBS, Job(5, "a-very-long-task-name", "cancelled", 100, "x" * 40)])
        table.sort_by("cpu")
        await pilot.pause()
        width = table.scrollable_content_region.width
        assert width == 31
        for y in range(table.size.height):
            assert table.render_line(y).cell_length == width
        header = lines(table)[0]
        assert header.split() == ["ID", "Name", "State", "CPU▲"]
        assert "a-very-lo…" in lines(table)[5]

    run(make_table(), scenario, size=(31, 24))


def test_an_empty_table_draws_its_header_and_says_it_is_empty() -> None:
    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        table = app.table
        await pilot.press("down", "up", "pagedown", "end", "enter")
        await pilot.click(Table, offset=(2, 3))
        await pilot.pause()
        assert table.current is None
        assert app.selected == app.highlighted == []
        assert lines(table)[0].split()[0] == "ID"
        assert lines(table)[1].strip() == "no rows"

    run(make_table(), scenario)


def test_only_rows_on_screen_are_rendered() -> None:
    rendered: list[int] = []

    def cell(job: Job) -> str:
        rendered.append(job.id)
        return job.name

    async def scenario(pilot: Pilot[None], app: TableApp) -> None:
        app.table.set_rows(many_jobs(10_000))
        await pilot.pause()
        assert 0 < len(rendered) <= 23

    table = Table([Column("name", "Name", 10, cell, searchable=False)], row_key=lambda j: j.id)
    run(table, scenario)
