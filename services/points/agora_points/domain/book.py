"""Stage 2 of the points engine: each user's entries in event-time order and what they count, per user.

Cap: positive, non-exempt award entries of one user and UTC day share `daily_cap`, in event-time order; an award
that is later reversed does not consume cap, so a reversal gives the freed cap back to the others. Floor: the
running total never goes below `floor`; negative entries are cut where it would. What the floor forgives of a
*reversal* is owed: later give-backs (reversals of penalties) repay it before they count, so no sequence of votes
and retractions leaves more than the awards still in effect give. A changed award recomputes the user's ledger
only from its earliest changed position on. Boards (scope x all-time / month / week) move by the difference of
every entry whose effective points changed.
"""

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

from agora_points.domain.model import REVERSAL, AwardState, BatchResult, InMemory, NameFact, StateMap, StatusFact
from agora_points.domain.periods import DAY_US, windows_of_day
from agora_points.domain.rules import Rule, RuleSet

_MEMO_MAX = 20_000


@dataclass(slots=True, eq=False)
class BookAward:
    """Stage 2's record of one award of one user, with its entries."""

    user: str
    rule: Rule
    scopes: tuple[str, ...]
    event_id: str
    event_type: str
    exempt: bool
    revision: int = 0
    entries: dict[tuple, "Entry"] = field(default_factory=dict)


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
    reverses: tuple | None = None
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
    """Everything stage 2 keeps of one user: their awards, the entries in event-time order, the running totals.
    One value of the book's state map (on disk in a worker, see model.StateMap)."""

    __slots__ = ("awards", "by_sk", "cells", "entries", "keys", "total", "user")

    def __init__(self, user: str) -> None:
        self.user = user
        self.awards: dict[tuple[str, str], BookAward] = {}  # (awarding event, rule)
        # the user's points on each board (scope, window) they ever were on: kept with the ledger, not per board,
        # so a worker's memory does not grow with the windows of the history
        self.cells: dict[tuple[str, str], int] = {}
        self.entries: dict[tuple, Entry] = {}
        self.keys: list[tuple] = []  # sort keys, ascending; new entries almost always go at the end
        self.by_sk: dict[tuple, Entry] = {}
        self.total = 0

    def add(self, e: Entry) -> None:
        self.entries[e.key] = e
        self.by_sk[e.sk] = e
        keys = self.keys
        if not keys or keys[-1] < e.sk:
            keys.append(e.sk)
        else:
            insort(keys, e.sk)

    def remove(self, e: Entry) -> None:
        del self.entries[e.key]
        del self.by_sk[e.sk]
        del self.keys[bisect_left(self.keys, e.sk)]

    def ordered(self) -> list[Entry]:
        return [self.by_sk[k] for k in self.keys]


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
    def __init__(self, rules: RuleSet, ledgers: StateMap[Ledger] | None = None) -> None:
        self.rules = rules
        self._rules_by_id = rules.by_id()
        self.ledgers: StateMap[Ledger] = ledgers if ledgers is not None else InMemory()
        self.status_events: dict[str, list[tuple]] = {}
        self.excluded: set[str] = set()
        self._board_keys: dict[tuple, list[tuple[str, str]]] = {}
        # What changed on the boards since the last take_board_changes(): ((scopes, day), user), and users whose
        # exclusion from boards may have flipped. Only the live engine tracks them (replays and what-ifs do not).
        self.tracking = False
        self.touched_cells: set[tuple] = set()
        self.touched_status: set[str] = set()
        self.names: dict[str, tuple[tuple, str | None]] = {}  # user -> (order of the latest, display name)
        self.touched_names: set[str] = set()

    @classmethod
    def merged(cls, books: Sequence["Book"], ledgers: StateMap[Ledger] | None = None) -> "Book":
        """One book holding the users of all these (disjoint) books: what a worker keeps when the partitioning
        under its books changed (a broker that came back empty and re-created the topic with another count)."""
        out = cls(books[0].rules, ledgers)
        for book in books:
            for user, ledger in book.ledgers.items():
                out.ledgers[user] = ledger
                out.ledgers.settle()
            out.status_events.update(book.status_events)
            out.excluded |= book.excluded
            out.names.update(book.names)
            out.tracking = out.tracking or book.tracking
            out.touched_cells |= book.touched_cells
            out.touched_status |= book.touched_status
            out.touched_names |= book.touched_names
        return out

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
        dirty: dict[str, tuple] = {}
        for state in states:
            self._replace(state, dirty, result)
        for user, from_sk in dirty.items():
            self._recompute(self.ledgers[user], from_sk, result)
            result.changed_users.add(user)
        self.ledgers.settle()

    def _replace(self, state: AwardState, dirty: dict[str, tuple], result: BatchResult) -> None:
        """Make the award's entries those of `state` (a state older than the one applied is ignored)."""
        user = state.user
        ledger = self.ledgers.get(user)
        if ledger is None:
            ledger = Ledger(user)
            self.ledgers[user] = ledger
        award_id = (state.event_id, state.rule_id)
        a = ledger.awards.get(award_id)
        if a is None:
            a = ledger.awards[award_id] = BookAward(user, self._rules_by_id[state.rule_id], state.scopes,
                                                    state.event_id, state.event_type, state.exempt)
        elif state.revision <= a.revision:
            return
        a.revision = state.revision
        entries = a.entries
        if entries:
            wanted = {spec.key: spec for spec in state.entries}
            for key, old in list(entries.items()):
                spec = wanted.get(key)
                if spec is None or (spec.sk, spec.reverses, spec.kind, spec.base) != (
                        old.sk, old.reverses, old.kind, old.base):
                    ledger.remove(old)
                    del entries[key]
                    if old.points:
                        self._bump(ledger, a, old, -old.points)
                    _mark(dirty, user, old.sk)
        for spec in state.entries:
            entry = entries.get(spec.key)
            if entry is None:
                entry = Entry(spec.key, spec.sk, spec.kind, a, spec.base, spec.time_us, spec.source_event_id,
                              spec.source_event_type, spec.reverses, spec.reversed, a.exempt)
                entries[spec.key] = entry
                ledger.add(entry)
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
    def _recompute(self, ledger: Ledger, from_sk: tuple, result: BatchResult, *, boards: bool = True) -> None:
        cap, floor = self.rules.daily_cap, self.rules.floor
        keys = ledger.keys
        i = bisect_left(keys, from_sk)
        if i > 0:
            prev = ledger.by_sk[keys[i - 1]]
            running, day, used, debt = prev.total_after, prev.time_us // DAY_US, prev.used_after, prev.debt_after
        else:
            running, day, used, debt = 0, None, 0, 0
        by_sk, entries = ledger.by_sk, ledger.entries
        bump = self._bump if boards else None
        for sk in keys[i:]:
            e = by_sk[sk]
            d = e.time_us // DAY_US
            if d != day:
                day, used = d, 0
            if e.kind == REVERSAL:
                target = entries.get(e.reverses) if e.reverses else None
                capped = -target.points if target is not None else e.base  # undo what it actually gave
            elif cap is not None and e.base > 0 and not e.exempt:
                capped = min(e.base, max(cap - used, 0))
                if not e.reversed:
                    used += capped
                if capped < e.base and capped != e.capped:
                    result.cap_hits += 1
            else:
                capped = e.base
            pts = capped
            if debt and e.kind == REVERSAL and capped > 0:
                # giving back a penalty repays first what the floor forgave of an earlier reversal: otherwise
                # +10, five -2 (at the floor), the +10 retracted (cut), the -2s retracted would leave +10
                repaid = min(debt, capped)
                debt -= repaid
                pts -= repaid
            if floor is not None and pts < 0 and running + pts < floor:
                kept = min(0, floor - running)
                if e.kind == REVERSAL:
                    debt += kept - pts
                pts = kept
            running += pts
            if pts != e.points:
                if bump is not None:
                    bump(ledger, e.award, e, pts - e.points)
                e.points = pts
            e.capped, e.used_after, e.total_after, e.debt_after = capped, used, running, debt
        ledger.total = running if len(keys) else 0

    def _bump(self, ledger: Ledger, a: BookAward, e: Entry, delta: int) -> None:
        """Add delta to every board the entry counts on: each scope x (all-time, its month, its week)."""
        day = e.time_us // DAY_US
        if self.tracking:
            self.touched_cells.add(((a.scopes, day), ledger.user))
        cells = ledger.cells
        for key in self.board_keys(a.scopes, day):
            # a cell that falls to 0 stays: a partition written whole to Redis then also removes it there
            cells[key] = cells.get(key, 0) + delta

    # ---- boards ------------------------------------------------------------------------------------
    def board_keys(self, scopes: tuple[str, ...], day: int) -> list[tuple[str, str]]:
        keys = self._board_keys.get((scopes, day))
        if keys is None:
            if len(self._board_keys) >= _MEMO_MAX:
                self._board_keys.clear()
            month, week = windows_of_day(day)
            keys = self._board_keys[(scopes, day)] = [(s, w) for s in scopes for w in ("all", month, week)]
        return keys

    def take_board_changes(self) -> dict[tuple[str, str], dict[str, int]]:
        """The current points of every (board, user) touched since the last call (0 = off the board, also for
        excluded users), and forget them."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        excluded = self.excluded
        for (scopes, day), user in self.touched_cells:
            ledger = self.ledgers.peek(user)
            cells = ledger.cells if ledger is not None else {}
            for key in self.board_keys(scopes, day):
                out.setdefault(key, {})[user] = 0 if user in excluded else cells.get(key, 0)
        for user in self.touched_status:  # rare: every board the user is on
            off = user in excluded
            ledger = self.ledgers.peek(user)
            for key, points in (ledger.cells.items() if ledger is not None else ()):
                out.setdefault(key, {})[user] = 0 if off else points
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
        """Every board's cells, (scope, window) -> {user: points}, zeros included: gathered from every ledger."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for user, ledger in self.ledgers.items():
            for key, points in ledger.cells.items():
                out.setdefault(key, {})[user] = points
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
        ledger = self.ledgers.peek(user)
        return ledger.cells.get((scope, window_key), 0) if ledger is not None else 0

    def totals(self) -> dict[str, int]:
        return {user: ledger.total for user, ledger in self.ledgers.items() if ledger.entries}

    def as_of(self, user: str, t_us: int) -> tuple[int, list[Entry]]:
        """The user's total counting only entries up to t_us (so also only reversals up to then)."""
        ledger = self.ledgers.peek(user)
        if ledger is None:
            return 0, []
        subset = [e for e in ledger.ordered() if e.time_us <= t_us]
        reversed_keys = {e.reverses for e in subset if e.kind == REVERSAL}
        scratch = Ledger(user)
        for e in subset:
            scratch.add(Entry(e.key, e.sk, e.kind, e.award, e.base, e.time_us, e.source_event_id,
                              e.source_event_type, e.reverses, e.key in reversed_keys, e.exempt))
        self._recompute(scratch, (), BatchResult(), boards=False)
        return scratch.total, scratch.ordered()


def _mark(dirty: dict[str, tuple], user: str, sk: tuple) -> None:
    current = dirty.get(user)
    if current is None or sk < current:
        dirty[user] = sk
