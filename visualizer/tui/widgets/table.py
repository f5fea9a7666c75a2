"""One virtualised table for every list view: columns as data, rows as any objects.

Only the rows on screen are rendered, through the Line API, and each rendered row is kept as a
strip until the data changes, so a table of 10,000 tasks redraws in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
ELLIPSIS = "…"
SORT_MARKS = {False: "▲", True: "▼"}
HEADER_LINES = 1
STRIP_CACHE_SIZE = 1024  # rendered rows kept between data changes: a few screens' worth


@dataclass(frozen=True)
class Column:
    """How one column reads a row object and shows it."""

    key: str
    title: str
    width: int  # preferred width in cells
    cell: Callable[[Any], Cell]  # what to show for a row object
    sort_key: Callable[[Any], Any] | None = None  # None: not sortable
    align: Literal["left", "right"] = "left"
    priority: int = 0  # when space runs short, the lowest priority goes first
    flex: bool = False  # takes the spare width, and shrinks first (down to min_width)
    min_width: int = 8  # flex columns only: narrowest before other columns are dropped
    searchable: bool = True  # the default filter looks in this column's text


@dataclass(frozen=True)
class Placed:
    """A column placed on a line: where it starts and how wide it is drawn."""

    column: Column
    x: int
    width: int


def layout_columns(columns: Sequence[Column], width: int) -> list[Placed]:
    """Fit `columns` in `width` cells, one space apart, never wider than `width`.

    Flex columns shrink to their `min_width` first; if that is not enough, the lowest-priority
    columns are dropped (the rightmost of equals first). The last flex column takes the spare room.
    """
    shown = list(columns)
    while len(shown) > 1 and _narrowest(shown) > width:
        shown.remove(min(reversed(shown), key=lambda column: column.priority))
    widths = [column.width for column in shown]
    flexible = [i for i, column in enumerate(shown) if column.flex]
    spare = width - sum(widths) - (len(shown) - 1)
    if spare > 0 and flexible:
        widths[flexible[-1]] += spare
    for i in reversed(flexible):
        if spare >= 0:
            break
        cut = min(-spare, widths[i] - min(shown[i].min_width, widths[i]))
        widths[i] -= cut
        spare += cut
    if spare < 0 and widths:  # a single column wider than the table
        widths[-1] = max(0, widths[-1] + spare)
    placed, x = [], 0
    for column, column_width in zip(shown, widths, strict=True):
        placed.append(Placed(column, x, column_width))
        x += column_width + 1
    return placed


def _narrowest(columns: Sequence[Column]) -> int:
    """The fewest cells `columns` need, flex columns at their minimum."""
    widths = (min(c.min_width, c.width) if c.flex else c.width for c in columns)
    return sum(widths) + len(columns) - 1


def fit(text: str, width: int, align: Literal["left", "right"]) -> str:
    """`text` in exactly `width` cells: cut with an ellipsis, or padded on the side away from
    `align`."""
    if not text.isprintable():
        # A newline or a control character in a task name would break the line apart.
        text = "".join(c if c.isprintable() else "�" for c in text)
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + ELLIPSIS if width > 0 else ""
    padding = " " * (width - length)
    return text + padding if align == "left" else padding + text


class RowMessage(Message):
    """A message about one row of a table."""

    def __init__(self, table: Table, row: Any) -> None:
        super().__init__()
        self.table = table
        self.row = row

    @property
    def control(self) -> Table:
        return self.table


class Table(ScrollView, can_focus=True):
    """A sortable, filterable table of row objects with a cursor, drawn a line at a time.

    The header is line 0 of the widget and stays put; row `i` of the displayed rows is virtual
    line `i + 1`, so scrolling moves only the rows under the header.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "table--header",
        "table--header-sorted",
        "table--cursor",
        "table--empty",
    }

    DEFAULT_CSS = """
    Table {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .table--header { background: $panel; text-style: bold; }
        & > .table--header-sorted { color: $accent; }
        & > .table--empty { color: $text-muted; text-style: italic; }
        & > .table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class Highlighted(RowMessage):
        """The cursor moved to another row."""

    class Selected(RowMessage):
        """A row was chosen: Enter, or a click on the highlighted row."""

    filter_text: var[str] = var("")
    """Only rows that match this text are shown; empty shows every row."""

    follow: var[bool] = var(False)
    """Keep the cursor on the last row as rows arrive; moving it elsewhere turns this off."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        row_key: Callable[[Any], Hashable],
        row_style: Callable[[Any], str] | None = None,
        matcher: Callable[[Any, str], bool] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`row_key` names a row uniquely across updates; `row_style` gives a Rich style for a
        whole row; `matcher(row, text)` replaces the default case-insensitive search."""
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.row_key = row_key
        self.empty_text = "no rows"  # what an empty table says (the owner may say why)
        self.row_style = row_style
        self.matcher = matcher
        self._rows: Sequence[Any] = ()
        self._view: list[Any] = []  # the rows shown: filtered, then sorted
        self._sort_column: Column | None = None
        self._sort_reverse = False
        self._cursor = 0
        self._cursor_key: Hashable | None = None
        self._version = 0  # bumped when the row objects change: rendered strips are stale
        self._strips: LRUCache[tuple[Hashable, int, int, bool], Strip] = LRUCache(STRIP_CACHE_SIZE)
        self._layouts: dict[int, list[Placed]] = {}
        self._look: Look | None = None
        self._rebuild()

    # -- data ------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Show `rows` (new objects or the same ones changed), sorted and filtered as before.
        The cursor stays on the row with the same key while that row is shown."""
        self._rows = rows
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """The row objects changed in place: sort, filter and draw them again."""
        self._version += 1
        self._strips.clear()
        self._rebuild()

    @property
    def displayed_rows(self) -> Sequence[Any]:
        """The rows shown, in order: filtered, then sorted."""
        return self._view

    @property
    def current(self) -> Any | None:
        """The highlighted row, or None when no row is shown."""
        return self._view[self._cursor] if self._view else None

    @property
    def sort_column(self) -> str | None:
        """The key of the column the rows are sorted by, or None for the given order."""
        return self._sort_column.key if self._sort_column else None

    @property
    def sort_reverse(self) -> bool:
        """True when sorted in descending order."""
        return self._sort_reverse

    def sort_by(self, key: str | None, *, reverse: bool | None = None) -> None:
        """Sort by the column `key` (None: the given order). The same key again without
        `reverse` toggles the direction; a new key starts ascending."""
        column = self._column(key) if key is not None else None
        if column is not None and column.sort_key is None:
            raise ValueError(f"column {key!r} is not sortable")
        if reverse is None:
            reverse = not self._sort_reverse if column is self._sort_column else False
        self._sort_column, self._sort_reverse = column, reverse
        self._rebuild()

    def invert(self) -> None:
        """Reverse the sort direction."""
        self.sort_by(self.sort_column, reverse=not self._sort_reverse)

    def cycle_sort(self, step: int) -> None:
        """Sort by the sortable column `step` places after (or before) the current one."""
        sortable = [column for column in self.columns if column.sort_key is not None]
        if not sortable:
            return
        if self._sort_column in sortable:
            target = sortable.index(self._sort_column) + step
        else:  # unsorted: forward starts at the first column, backward at the last
            target = 0 if step > 0 else -1
        self.sort_by(sortable[target % len(sortable)].key, reverse=self._sort_reverse)

    def _column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(f"no column {key!r}; columns: {[c.key for c in self.columns]}")

    def _keep(self, text: str) -> Callable[[Any], bool]:
        """The test a row must pass to be shown while filtering by `text`."""
        if self.matcher is not None:
            matcher = self.matcher
            return lambda row: matcher(row, text)
        needle = text.casefold()
        cells = [column.cell for column in self.columns if column.searchable]

        def contains_needle(row: Any) -> bool:
            # A plain loop, not any(<genexpr>): this runs for every row on every update.
            for cell in cells:
                value = cell(row)
                if needle in (value if isinstance(value, str) else value.plain).casefold():
                    return True
            return False

        return contains_needle

    def watch_filter_text(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        """Filter and sort the rows, put the cursor back on its row, and redraw."""
        text = self.filter_text.strip()
        view = list(filter(self._keep(text), self._rows)) if text else list(self._rows)
        if self._sort_column is not None:
            # list.sort computes the keys first: one call per row, not one per comparison.
            view.sort(key=self._sort_column.sort_key, reverse=self._sort_reverse)
        self._view = view
        # An empty table still has a line under the header, to say that it is empty.
        self.virtual_size = Size(_narrowest(self.columns), max(len(view), 1) + HEADER_LINES)
        self._place_cursor(len(view) - 1 if self.follow else self._index_of_cursor_key())
        self.refresh()

    def _index_of_cursor_key(self) -> int:
        """Where the highlighted row is now, or the old index when it is gone."""
        if self._cursor_key is None:
            return self._cursor
        row_key, view = self.row_key, self._view
        if self._cursor < len(view) and row_key(view[self._cursor]) == self._cursor_key:
            return self._cursor
        return next(
            (i for i, row in enumerate(view) if row_key(row) == self._cursor_key), self._cursor
        )

    # -- cursor ----------------------------------------------------------------------------

    @property
    def cursor_row(self) -> int:
        """The index of the highlighted row among the displayed rows."""
        return self._cursor

    @cursor_row.setter
    def cursor_row(self, index: int) -> None:
        self.move_cursor(index)

    def move_cursor(self, index: int) -> None:
        """Highlight row `index` (clamped to the rows shown); anywhere but the last row stops
        following."""
        last = len(self._view) - 1
        if index < last:
            self.follow = False
        self._place_cursor(index)

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._place_cursor(len(self._view) - 1)

    def _place_cursor(self, index: int) -> None:
        """Move the cursor, redraw the lines it left and reached, and scroll to it."""
        index = max(0, min(index, len(self._view) - 1))
        if index != self._cursor:
            self.refresh_line(self._cursor + HEADER_LINES)
            self.refresh_line(index + HEADER_LINES)
            self._cursor = index
        self._scroll_to_cursor()
        row = self.current
        key = None if row is None else self.row_key(row)
        if key != self._cursor_key:
            self._cursor_key = key
            if row is not None:
                self.post_message(self.Highlighted(self, row))

    def _page_rows(self) -> int:
        """How many rows fit under the header."""
        return max(1, self.scrollable_content_region.height - HEADER_LINES)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted:
            return
        top, page = round(self.scroll_y), self._page_rows()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page_rows())

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page_rows())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._view) - 1)

    def action_select(self) -> None:
        if self._view:
            self.post_message(self.Selected(self, self.current))

    def _on_click(self, event: events.Click) -> None:
        """A click on the header sorts by that column; on a row, highlights it, and a click on
        the highlighted row selects it."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y < HEADER_LINES:
            self._sort_at(offset.x)
            return
        index = round(self.scroll_y) + offset.y - HEADER_LINES
        if index >= len(self._view):
            return
        if index == self._cursor:
            self.action_select()
        else:
            self.move_cursor(index)

    def _sort_at(self, x: int) -> None:
        for place in self._layout(self._get_look().width):
            if place.x <= x < place.x + place.width and place.column.sort_key is not None:
                self.sort_by(place.column.key)

    # -- drawing ---------------------------------------------------------------------------

    def _on_resize(self, _: events.Resize) -> None:
        self._look = None
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._look = None  # the cursor and header styles change with focus and theme
        self._strips.clear()

    def _get_look(self) -> Look:
        if self._look is None:
            self._look = Look(
                width=self.scrollable_content_region.width,
                base=self.rich_style,
                header=self.get_component_rich_style("table--header"),
                sorted=self.get_component_rich_style("table--header-sorted", partial=True),
                cursor=self.get_component_rich_style("table--cursor"),
                empty=self.get_component_rich_style("table--empty"),
            )
        return self._look

    def _layout(self, width: int) -> list[Placed]:
        if width not in self._layouts:
            self._layouts[width] = layout_columns(self.columns, width)
        return self._layouts[width]

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are looked up once per paint, not once per line: the lookup walks the DOM.
        self._look = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; the others show the rows under the scroll position."""
        look = self._get_look()
        if y < HEADER_LINES:
            return self._render_header(look)
        index = round(self.scroll_y) + y - HEADER_LINES
        if index >= len(self._view):
            if index == 0:
                return self._render_empty(look)
            return Strip.blank(look.width, look.base)
        row = self._view[index]
        is_cursor = index == self._cursor
        key = (self.row_key(row), self._version, look.width, is_cursor)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(row, look, is_cursor)
            self._strips[key] = strip
        return strip

    def _render_header(self, look: Look) -> Strip:
        sorted_style = look.header + look.sorted
        segments: list[Segment] = []
        for place in self._layout(look.width):
            column = place.column
            if place.x:
                segments.append(Segment(" ", look.header))
            if column is self._sort_column:
                title = fit(column.title, max(0, place.width - 1), column.align)
                mark = SORT_MARKS[self._sort_reverse][: place.width]
                segments.append(Segment(title + mark, sorted_style))
            else:
                segments.append(Segment(fit(column.title, place.width, column.align), look.header))
        return Strip(segments).extend_cell_length(look.width, look.header)

    def _render_empty(self, look: Look) -> Strip:
        wanted = self.filter_text.strip()
        text = f"no rows match {wanted!r}" if self._rows and wanted else self.empty_text
        return Strip([Segment(fit(text, look.width, "left"), look.empty)], look.width)

    def _render_row(self, row: Any, look: Look, is_cursor: bool) -> Strip:
        """One row's cells, styled by the widget, then the row, then the cursor; a cell's own
        colours stay on top."""
        style = look.base
        if self.row_style is not None:
            style += Style.parse(self.row_style(row))
        if is_cursor:
            style += look.cursor
        segments: list[Segment] = []
        parts: list[str] = []  # plain cells and gaps in a row share one segment
        used = 0
        for place in self._layout(look.width):
            if place.x:
                parts.append(" ")
            value = place.column.cell(row)
            if isinstance(value, str):
                parts.append(fit(value, place.width, place.column.align))
            else:
                if parts:
                    segments.append(Segment("".join(parts), style))
                    parts = []
                segments.extend(_render_text(value, place, style, self.app.console))
            used = place.x + place.width
        parts.append(" " * (look.width - used))
        segments.append(Segment("".join(parts), style))
        return Strip(segments, look.width)


@dataclass(frozen=True)
class Look:
    """What a paint needs from the widget's styles: its width and the component styles."""

    width: int
    base: Style
    header: Style
    sorted: Style
    cursor: Style
    empty: Style


def _render_text(value: Text, place: Placed, style: Style, console: Console) -> list[Segment]:
    """A Rich Text cell cut or padded to its column, `style` under its own styles."""
    text = value.copy()
    text.truncate(place.width, overflow="ellipsis")
    text.align(place.column.align, place.width)
    # Text.render leaves out the Text's own base style (its spans are in): add it here.
    style += console.get_style(text.style, default=Style.null())
    return list(Segment.apply_style(text.render(console), style))
