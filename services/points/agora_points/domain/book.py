"""Stage 2 of the points engine: each user's entries in event-time order and what they count, per user.

Cap: positive, non-exempt award entries of one user and UTC day share `daily_cap`, in event-time order; an award
that is later reversed does not consume cap, so a reversal gives the freed cap back to the others. Floor: the
running total never goes below `floor`; negative entries are cut where it would. What the floor forgives of a
*reversal* is owed: later give-backs (reversals of penalties) repay it before they count, so no sequence of votes
and retractions leaves more than the awards still in effect give. A changed award recomputes the user's ledger
only from its earliest changed position on. Boards (scope x all-time / month / week) move by the difference of
every entry whose effective points changed.
"""

from bisect import insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from agora_points.domain.model import (
    REVERSAL,
    AwardState,
    BatchResult,
    InMemory,
    InMemoryIndex,
    NameFact,
    SortedIndex,
    StateMap,
    StatusFact,
)
from agora_points.domain.periods import DAY_US, windows_of_day
from agora_points.domain.rules import Rule, RuleSet

_MEMO_MAX = 20_000


@dataclass(slots=True, eq=False)
class BookAward:
    """Stage 2's record of one award of one user, with its entries: one value of the book's award map."""

    user: str
    rule: Rule
    scopes: tuple[str, ...]
    event_id: str
    event_type: str
    exempt: bool
    revision: int = 0
    entries: dict[tuple, "Entry"] = field(default_factory=dict)


def award_key(user: str, event_id: str, rule_id: str) -> str:
    return f"{user}\x00{event_id}\x00{rule_id}"


def award_of(user: str, entry_key: tuple) -> str:
    """The award an entry belongs to: its key is (awarding event, rule) for the award itself, (causing event,
    rule, awarding event) for a later reversal or re-grant (model.EntrySpec)."""
    return award_key(user, entry_key[2] if len(entry_key) == 3 else entry_key[0], entry_key[1])


@dataclass(slots=True, eq=False)
class Entry:
    key: tuple
    sk: tuple  # sort key: event-time order
    kind: str
    award: BookAward
    base: int
    time_us: int
    source_event_id: str
    source_event_type: str
    reverses: tuple | None = None  # the key of an entry of the same award
    reversed: bool = False
    exempt: bool = False
    capped: int | None = None  # after the daily cap (None until first computed)
    points: int = 0  # after the floor: what counts
    used_after: int = 0  # cap used in its day, after it
    total_after: int = 0
    debt_after: int = 0  # what the floor forgave of reversals so far, and give-backs have not yet repaid

    @property
    def id(self) -> str:
        return ":".join(self.key)


class Ledger:
    """The head of one user's ledger: the total, and where the last entry left the running arithmetic. The
    entries themselves are in the book's award map, in order through its index: a change at the end of a ledger
    (nearly every one) starts from `tail` and reads none of the history."""

    __slots__ = ("count", "tail", "total", "user")

    def __init__(self, user: str) -> None:
        self.user = user
        self.total = 0
        self.count = 0  # entries
        self.tail: tuple | None = None  # the last entry's (sk, time_us, total_after, used_after, debt_after)


def cells_key(user: str, window: str) -> str:
    return f"{user}\x00{window}"


class BookState(NamedTuple):
    """Where a book keeps its users: ledger heads by user; awards by award_key; the order of each user's entries;
    each user's points per board, one value per window (cells_key -> {scope: points}), since an entry moves the
    all-time, month and week boards of its scopes; and the windows each user has points in."""

    ledgers: StateMap[Ledger]
    awards: StateMap[BookAward]
    order: SortedIndex
    cells: StateMap[dict[str, int]]
    windows: SortedIndex  # (user, (window,)) -> (window,)

    @classmethod
    def in_memory(cls) -> "BookState":
        return cls(InMemory(), InMemory(), InMemoryIndex(), InMemory(), InMemoryIndex())


def count_entry(e: Entry, target: Entry | None, running: int, day: int | None, used: int, debt: int,
                cap: int | None, floor: int | None) -> tuple[int, int, int, int | None, int, int]:
    """The arithmetic of one entry after the state the entries before it left: (capped, points, running, day,
    used, debt). `target` is the entry a reversal undoes."""
    d = e.time_us // DAY_US
    if d != day:
        day, used = d, 0
    if e.kind == REVERSAL:
        capped = -target.points if target is not None else e.base  # undo what it actually gave
    elif cap is not None and e.base > 0 and not e.exempt:
        capped = min(e.base, max(cap - used, 0))
        if not e.reversed:
            used += capped
    else:
        capped = e.base
    pts = capped
    if debt and e.kind == REVERSAL and capped > 0:
        # giving back a penalty repays first what the floor forgave of an earlier reversal: otherwise +10,
        # five -2 (at the floor), the +10 retracted (cut), the -2s retracted would leave +10
        repaid = min(debt, capped)
        debt -= repaid
        pts -= repaid
    if floor is not None and pts < 0 and running + pts < floor:
        kept = min(0, floor - running)
        if e.kind == REVERSAL:
            debt += kept - pts
        pts = kept
    return capped, pts, running + pts, day, used, debt


def ranking(points: dict[str, int], excluded: set[str]) -> list[tuple[int, str, int]]:
    """The definition of a board's order: [(rank, user, points)] for users with points > 0 and not excluded, best
    first, ties by user id; competition ranks ("1224"): 1 + the number of users with more points."""
    rows = sorted((-p, u) for u, p in points.items() if p > 0 and u not in excluded)
    out, rank, last = [], 0, None
    for i, (neg, user) in enumerate(rows):
        if neg != last:
            rank, last = i + 1, neg
        out.append((rank, user, -neg))
    return out


class Book:
    def __init__(self, rules: RuleSet, state: BookState | None = None) -> None:
        self.rules = rules
        self._rules_by_id = rules.by_id()
        self.state = state if state is not None else BookState.in_memory()
        self.ledgers, self.awards, self.order, self.cells, self.windows = self.state
        self.status_events: dict[str, list[tuple]] = {}
        self.excluded: set[str] = set()
        self._windows: dict[int, tuple[str, str, str]] = {}
        # What changed on the boards since the last take_board_changes(): ((scopes, day), user), and users whose
        # exclusion from boards may have flipped. Only the live engine tracks them (replays and what-ifs do not).
        self.tracking = False
        self.touched_cells: set[tuple] = set()
        self.touched_status: set[str] = set()
        self.names: dict[str, tuple[tuple, str | None]] = {}  # user -> (order of the latest, display name)
        self.touched_names: set[str] = set()

    @classmethod
    def merged(cls, books: Sequence["Book"], state: BookState | None = None) -> "Book":
        """One book holding the users of all these (disjoint) books: what a worker keeps when the partitioning
        under its books changed (a broker that came back empty and re-created the topic with another count)."""
        out = cls(books[0].rules, state)
        for book in books:
            for user, ledger in book.ledgers.items():
                out.ledgers[user] = ledger
                out._settle()
            for key, award in book.awards.items():
                out.awards[key] = award
                for e in award.entries.values():
                    out.order.put(award.user, e.sk, e.key)
                out._settle()
            for key, cells in book.cells.items():
                out.cells[key] = cells
                user, window = key.split("\x00")
                out.windows.put(user, (window,), (window,))
                out._settle()
            out.status_events.update(book.status_events)
            out.excluded |= book.excluded
            out.names.update(book.names)
            out.tracking = out.tracking or book.tracking
            out.touched_cells |= book.touched_cells
            out.touched_status |= book.touched_status
            out.touched_names |= book.touched_names
        return out

    def snapshot_meta(self) -> dict:
        """What this book keeps outside its maps (per member, not per event), for a state snapshot."""
        return {"status_events": self.status_events, "excluded": sorted(self.excluded), "names": self.names}

    def load_meta(self, meta: dict) -> None:
        self.status_events = {user: [tuple(e) for e in events] for user, events in meta["status_events"].items()}
        self.excluded = set(meta["excluded"])
        self.names = {user: (tuple(order), name) for user, (order, name) in meta["names"].items()}

    def clear(self) -> None:
        """Forget every user (a partition that moved away)."""
        self.ledgers.clear()
        self.awards.clear()
        self.order.clear()
        self.cells.clear()
        self.windows.clear()

    def _settle(self) -> None:
        self.ledgers.settle()
        self.awards.settle()
        self.cells.settle()

    def apply(self, states: list[AwardState], statuses: list[StatusFact], result: BatchResult,
              names: Sequence[NameFact] = ()) -> None:
        for status in statuses:
            self._set_status(status)
        for name in names:
            current = self.names.get(name.user)
            if current is None or current[0] < name.order:  # the latest wins, whatever the arrival order
                self.names[name.user] = (name.order, name.name)
                if self.tracking:
                    self.touched_names.add(name.user)
        dirty: dict[str, list[tuple]] = {}  # user -> [first, last] sort key changed
        added: dict[str, dict[tuple, Entry]] = {}  # user -> the entries this batch added, by sort key
        for state in states:
            self._replace(state, dirty, added, result)
        for user, (first, last) in dirty.items():
            self._recompute(self.ledgers[user], first, last, added.get(user), result)
            result.changed_users.add(user)
        self._settle()

    def _replace(self, state: AwardState, dirty: dict[str, list[tuple]], added: dict[str, dict[tuple, Entry]],
                 result: BatchResult) -> None:
        """Make the award's entries those of `state` (a state older than the one applied is ignored)."""
        user = state.user
        ledger = self.ledgers.get(user)
        if ledger is None:
            ledger = Ledger(user)
            self.ledgers[user] = ledger
        key = award_key(user, state.event_id, state.rule_id)
        a = self.awards.get(key)
        if a is None:
            a = BookAward(user, self._rules_by_id[state.rule_id], state.scopes, state.event_id, state.event_type,
                          state.exempt)
            self.awards[key] = a
        elif state.revision <= a.revision:
            return
        a.revision = state.revision
        entries = a.entries
        if entries:
            wanted = {spec.key: spec for spec in state.entries}
            for entry_key, old in list(entries.items()):
                spec = wanted.get(entry_key)
                if spec is None or (spec.sk, spec.reverses, spec.kind, spec.base) != (
                        old.sk, old.reverses, old.kind, old.base):
                    del entries[entry_key]
                    self.order.delete(user, old.sk)
                    added.get(user, {}).pop(old.sk, None)
                    ledger.count -= 1
                    if old.points:
                        self._bump(ledger, a, old, -old.points)
                    _mark(dirty, user, old.sk)
        for spec in state.entries:
            entry = entries.get(spec.key)
            if entry is None:
                entry = Entry(spec.key, spec.sk, spec.kind, a, spec.base, spec.time_us, spec.source_event_id,
                              spec.source_event_type, spec.reverses, spec.reversed, a.exempt)
                entries[spec.key] = entry
                self.order.put(user, spec.sk, spec.key)
                added.setdefault(user, {})[spec.sk] = entry
                ledger.count += 1
                result.new_entries += 1
                _mark(dirty, user, spec.sk)
            elif entry.reversed != spec.reversed:
                entry.reversed = spec.reversed
                _mark(dirty, user, entry.sk)

    def _set_status(self, status: StatusFact) -> None:
        user = status.user
        if self.tracking:
            self.touched_status.add(user)
        events = self.status_events.setdefault(user, [])
        item = (*status.order, status.status)
        if item in events:
            return  # the same status change again
        insort(events, item)
        statuses = [e[-1] for e in events]
        current = "deleted" if "deleted" in statuses else statuses[-1]  # deletion is final
        if current == "active":
            self.excluded.discard(user)
        else:
            self.excluded.add(user)

    # ---- effective points ---------------------------------------------------------------------------
    def _entry(self, user: str, key: tuple, *, keep: bool = True) -> Entry:
        awards = self.awards
        a = (awards.get if keep else awards.peek)(award_of(user, key))
        assert a is not None, (user, key)  # the index and the awards change together
        return a.entries[key]

    def _recompute(self, ledger: Ledger, first: tuple, last: tuple, added: dict[tuple, Entry] | None,
                   result: BatchResult) -> None:
        """Count the user's entries from `first` on, in event-time order, each from where the one before left
        the arithmetic. Past `last` (the last changed one), it stops at the first entry that comes out as it
        was: everything after it would too."""
        cap, floor = self.rules.daily_cap, self.rules.floor
        user, tail = ledger.user, ledger.tail
        run: Iterator[Entry]
        if tail is None or tail[0] < first:  # only new entries, after the last one: no history is read
            after = tail
            run = iter([added[sk] for sk in sorted(added)] if added else [])
        else:
            before = self.order.before(user, first)
            prev = self._entry(user, before) if before is not None else None
            after = (prev.sk, prev.time_us, prev.total_after, prev.used_after, prev.debt_after) if prev else None
            run = (self._entry(user, key) for key in self.order.scan(user, first))
        if after is not None:
            running, day, used, debt = after[2], after[1] // DAY_US, after[3], after[4]
        else:
            running, day, used, debt = 0, None, 0, 0
        for e in run:
            target = e.award.entries.get(e.reverses) if e.reverses else None
            capped, pts, running, day, used, debt = count_entry(e, target, running, day, used, debt, cap, floor)
            if e.sk > last and e.capped is not None and (capped, pts, used, running, debt) == (
                    e.capped, e.points, e.used_after, e.total_after, e.debt_after):
                return  # the entries after this one are unchanged too, so are the tail and the total
            if capped < e.base and capped != e.capped and e.kind != REVERSAL:
                result.cap_hits += 1
            if pts != e.points:
                self._bump(ledger, e.award, e, pts - e.points)
                e.points = pts
                for other in e.award.entries.values():  # a reversal of it undoes what it gives now
                    if other.reverses == e.key and other.sk > last:
                        last = other.sk
            e.capped, e.used_after, e.total_after, e.debt_after = capped, used, running, debt
            after = (e.sk, e.time_us, running, used, debt)
        ledger.tail = after
        ledger.total = running if after is not None else 0

    def _bump(self, ledger: Ledger, a: BookAward, e: Entry, delta: int) -> None:
        """Add delta to every board the entry counts on: each scope x (all-time, its month, its week)."""
        day = e.time_us // DAY_US
        user = ledger.user
        if self.tracking:
            self.touched_cells.add(((a.scopes, day), user))
        for window in self.windows_of(day):
            key = cells_key(user, window)
            cells = self.cells.get(key)
            if cells is None:
                cells = self.cells[key] = {}
                self.windows.put(user, (window,), (window,))
            for scope in a.scopes:
                # a cell that falls to 0 stays: a partition written whole to Redis then also removes it there
                cells[scope] = cells.get(scope, 0) + delta

    # ---- boards ------------------------------------------------------------------------------------
    def windows_of(self, day: int) -> tuple[str, str, str]:
        windows = self._windows.get(day)
        if windows is None:
            if len(self._windows) >= _MEMO_MAX:
                self._windows.clear()
            windows = self._windows[day] = ("all", *windows_of_day(day))
        return windows

    def take_board_changes(self) -> dict[tuple[str, str], dict[str, int]]:
        """The current points of every (board, user) touched since the last call (0 = off the board, also for
        excluded users), and forget them."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        excluded = self.excluded
        for (scopes, day), user in self.touched_cells:
            off = user in excluded
            for window in self.windows_of(day):
                cells = self.cells.peek(cells_key(user, window)) or {}
                for scope in scopes:
                    out.setdefault((scope, window), {})[user] = 0 if off else cells.get(scope, 0)
        for user in self.touched_status:  # rare: every board the user is on
            off = user in excluded
            for (window,) in self.windows.scan(user):
                for scope, points in (self.cells.peek(cells_key(user, window)) or {}).items():
                    out.setdefault((scope, window), {})[user] = 0 if off else points
        self.touched_cells, self.touched_status = set(), set()
        return out

    def take_name_changes(self) -> dict[str, str | None]:
        """The display names changed since the last call (None: the account is gone), and forget them."""
        out = {user: self.names[user][1] for user in self.touched_names}
        self.touched_names = set()
        return out

    def name_state(self, *, with_deleted: bool = False) -> dict[str, str | None]:
        return {user: name for user, (_, name) in self.names.items() if name or with_deleted}

    def boards(self) -> dict[tuple[str, str], dict[str, int]]:
        """Every board's cells, (scope, window) -> {user: points}, zeros included: gathered from every user's."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for key, cells in self.cells.items():
            user, window = key.split("\x00")
            for scope, points in cells.items():
                out.setdefault((scope, window), {})[user] = points
        return out

    def partition_cells(self) -> list[tuple[tuple[str, str], dict[str, int]]]:
        """Every cell (board, user) this book has ever had, with what Redis should hold (0 = off the board: no
        points, or an excluded user)."""
        excluded = self.excluded
        return [(key, {u: (0 if u in excluded else p) for u, p in cells.items()})
                for key, cells in self.boards().items()]

    def board_state(self):
        """Every board's members as Redis should hold them (points > 0, not excluded): (key, {user: points})."""
        excluded = self.excluded
        for key, cells in self.boards().items():
            yield key, {u: p for u, p in cells.items() if p > 0 and u not in excluded}

    # ---- queries ------------------------------------------------------------------------------------
    def total(self, user: str) -> int:
        ledger = self.ledgers.peek(user)
        return ledger.total if ledger else 0

    def window_points(self, user: str, scope: str, window_key: str) -> int:
        return (self.cells.peek(cells_key(user, window_key)) or {}).get(scope, 0)

    def totals(self) -> dict[str, int]:
        return {user: ledger.total for user, ledger in self.ledgers.items() if ledger.count}

    def entry(self, user: str, key: tuple) -> Entry | None:
        a = self.awards.peek(award_of(user, key))
        return a.entries.get(key) if a is not None else None

    def entries(self, user: str, *, end: tuple | None = None, reverse: bool = False) -> Iterator[Entry]:
        """The user's entries in event-time order (newest first if reverse), those before `end` only if given:
        read from the award map one at a time, for a query (not kept in memory for it)."""
        for key in self.order.scan(user, end=end, reverse=reverse):
            yield self._entry(user, key, keep=False)

    def ordered(self, user: str) -> list[Entry]:
        return list(self.entries(user))

    def as_of(self, user: str, t_us: int) -> tuple[int, list[Entry]]:
        """The user's total counting only entries up to t_us (so also only reversals up to then)."""
        subset = [e for e in self.entries(user) if e.time_us <= t_us]
        reversed_keys = {e.reverses for e in subset if e.kind == REVERSAL}
        cap, floor = self.rules.daily_cap, self.rules.floor
        running, day, used, debt = 0, None, 0, 0
        counted: dict[tuple, Entry] = {}
        out = []
        for e in subset:
            mine = Entry(e.key, e.sk, e.kind, e.award, e.base, e.time_us, e.source_event_id, e.source_event_type,
                         e.reverses, e.key in reversed_keys, e.exempt)
            target = counted.get(e.reverses) if e.reverses else None
            mine.capped, mine.points, running, day, used, debt = count_entry(
                mine, target, running, day, used, debt, cap, floor)
            mine.used_after, mine.total_after, mine.debt_after = used, running, debt
            counted[e.key] = mine
            out.append(mine)
        return running, out


def _mark(dirty: dict[str, list[tuple]], user: str, sk: tuple) -> None:
    span = dirty.get(user)
    if span is None:
        dirty[user] = [sk, sk]
    elif sk < span[0]:
        span[0] = sk
    elif sk > span[1]:
        span[1] = sk
