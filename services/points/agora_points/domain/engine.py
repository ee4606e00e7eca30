"""The points engine: a pure, in-memory function from a SET of domain events to ledgers and leaderboards.

Why it cannot double-count: every event is admitted once by id; every award is keyed by (source event,
rule, user); every derived entry (award, reversal, re-grant) is keyed by the events that produce it; and
the effective points of each entry (daily cap, floor) are recomputed deterministically in event-time
order (time, kind, ids). So duplicates, redeliveries, replays and out-of-order arrival all converge on the
same ledger: the one a fresh engine computes from the same events.

Lifecycle of an award (see README): it starts at its source event; a later event of the same *chain*
ends it (the next vote by the same voter on the same post, a revoked acceptance, an unpublished article,
a new ranking); *toggles* switch it off and on (PostDeleted / PostRestored, EventCancelled). Every
transition is a compensating entry that names the entry it reverses.

Cap: positive, non-exempt award entries of one user and UTC day share `daily_cap`, in event-time order; an
award that is later reversed does not consume cap, so a reversal gives the freed cap back to the others.
Floor: the running total never goes below `floor`; negative entries are cut where it would. What the floor
forgives of a *reversal* is owed: later give-backs (reversals of penalties) repay it before they count, so no
sequence of votes and retractions leaves more than the awards still in effect give.
"""

from bisect import bisect_left, insort
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agora_points.domain.periods import DAY_US, windows_of_day
from agora_points.domain.rules import Rule, RuleSet

AWARD, REVERSAL, REGRANT = "award", "reversal", "regrant"
# Raised when the engine's semantics or state layout change: snapshots of an older engine are not used.
# 2: moderation toggles, question switches on answers' awards, floor debt. 3: boards without a sorted view.
ENGINE_VERSION = 3

# An award ends at the next event of its chain (same chain key), e.g. a voter's next vote on the post.
CHAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PostVoted": ("vote", ("post_id", "voter_id")),
    "VoteRetracted": ("vote", ("post_id", "voter_id")),
    "AnswerAccepted": ("accept", ("post_id",)),
    "AcceptanceRevoked": ("accept", ("post_id",)),
    "ArticlePublished": ("publish", ("post_id",)),
    "ArticleUnpublished": ("publish", ("post_id",)),
    "CompetitionRanked": ("ranking", ("event_id",)),
}
# Toggles switch every award about a post / community event off (False) or back on (True). Deletion and
# moderation are separate switches (a post restored while still hidden stays off). An answer's awards also
# hang on its question's switches: deleting or hiding a question takes back what its answers earned (votes,
# acceptance, the asker's bonus), as Stack Overflow does on question deletion; restoring gives it back.
TOGGLES: dict[str, tuple[str, str, bool]] = {
    "PostDeleted": ("post", "post_id", False),
    "PostRestored": ("post", "post_id", True),
    "PostHidden": ("hidden", "post_id", False),
    "PostUnhidden": ("hidden", "post_id", True),
    "EventCancelled": ("cevent", "event_id", False),
}
COMMUNITY_EVENT_SOURCE = "events"
USER_STATUS = {"UserSuspended": "suspended", "UserReinstated": "active", "UserDeleted": "deleted"}


@dataclass(slots=True, frozen=True)
class Fact:
    """One domain event, as the engine needs it (already validated by the caller)."""

    id: str
    type: str
    source: str
    time_us: int
    version: int
    data: dict[str, Any]


@dataclass(slots=True, eq=False)
class Award:
    event_id: str
    event_type: str
    rule: Rule
    user: str
    base: int
    time_us: int
    scopes: tuple[str, ...]
    chain: tuple | None
    toggles: tuple[tuple, ...]
    once: tuple | None
    entries: dict[tuple, "Entry"] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Entry:
    key: tuple
    sk: tuple  # sort key: event-time order
    kind: str
    award: Award
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
    """One user's entries in event-time order, with running totals."""

    __slots__ = ("by_sk", "entries", "keys", "total", "user")

    def __init__(self, user: str) -> None:
        self.user = user
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


class Board:
    """Points per user for one (scope, window). Ranked reads are served from Redis (adapters/leaderboards.py),
    which the processor keeps equal to these figures."""

    __slots__ = ("points",)

    def __init__(self) -> None:
        self.points: dict[str, int] = {}


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


@dataclass
class BatchResult:
    admitted: int = 0
    duplicates: int = 0
    by_type: Counter = field(default_factory=Counter)
    new_entries: int = 0
    cap_hits: int = 0
    changed_users: set[str] = field(default_factory=set)
    applied_times_us: list[int] = field(default_factory=list)


def _order(f: Fact) -> tuple:
    return (f.time_us, f.version, f.id)


class Engine:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._rules_by_event = rules.by_event()
        self.seen: set[str] = set()
        self.chain_events: dict[tuple, list[tuple]] = {}
        self.chain_awards: dict[tuple, list[Award]] = {}
        self.toggle_events: dict[tuple, list[tuple]] = {}
        self.toggle_awards: dict[tuple, list[Award]] = {}
        self.once_groups: dict[tuple, list[Award]] = {}
        self.ledgers: dict[str, Ledger] = {}
        self.status_events: dict[str, list[tuple]] = {}
        self.excluded: set[str] = set()
        self.boards: dict[tuple[str, str], Board] = {}
        self._board_lists: dict[tuple, list[Board]] = {}
        self._board_keys: dict[tuple, list[tuple[str, str]]] = {}
        # What changed on the boards since the last take_board_changes(): ((scopes, day), user), and users whose
        # exclusion from boards may have flipped. Only the live engine tracks them (replays and what-ifs do not).
        self.tracking = False
        self.touched_cells: set[tuple] = set()
        self.touched_status: set[str] = set()
        self._scopes: dict[tuple, tuple[str, ...]] = {}
        self._matchers = {t: [(r, _conditions(r)) for r in rs] for t, rs in rules.by_event().items()}
        self._condition_fields = {t: tuple(sorted({c[0] for _, cs in ms for c in cs}))
                                  for t, ms in self._matchers.items()}
        self._match_cache: dict[tuple, list[Rule]] = {}
        self.events_applied = 0

    # ---- ingest -------------------------------------------------------------------------------------
    def apply(self, facts: list[Fact]) -> BatchResult:
        result = BatchResult()
        touched: set[Award] = set()
        for f in facts:
            if f.id in self.seen:
                result.duplicates += 1
                continue
            self.seen.add(f.id)
            result.admitted += 1
            result.by_type[f.type] += 1
            result.applied_times_us.append(f.time_us)
            self._admit(f, touched)
        dirty: dict[str, tuple] = {}
        for award in touched:
            self._rederive(award, dirty, result)
        for user, from_sk in dirty.items():
            self._recompute(self.ledgers[user], from_sk, result)
            result.changed_users.add(user)
        self.events_applied += result.admitted
        return result

    def _admit(self, f: Fact, touched: set[Award]) -> None:
        data = f.data
        chain = CHAINS.get(f.type)
        chain_key = None
        if chain:
            fields = chain[1]
            chain_key = (chain[0], data.get(fields[0])) if len(fields) == 1 else \
                (chain[0], data.get(fields[0]), data.get(fields[1]))
            events = self.chain_events.get(chain_key)
            item = (f.time_us, f.version, f.id, f.type)
            if events is None:
                self.chain_events[chain_key] = [item]
            else:
                insort(events, item)
                touched.update(self.chain_awards.get(chain_key, ()))
        toggle = TOGGLES.get(f.type)
        if toggle:
            tkey = (toggle[0], data.get(toggle[1]))
            insort(self.toggle_events.setdefault(tkey, []), (*_order(f), toggle[2], f.type))
            touched.update(self.toggle_awards.get(tkey, ()))
        status = USER_STATUS.get(f.type)
        if status:
            self._set_status(data["user_id"], (*_order(f), status))
        for rule in self._matching(f.type, data):
            for user, base in self._recipients(rule, data):
                self._add_award(f, rule, user, base, chain_key, touched)

    def _matching(self, event_type: str, data: dict) -> list[Rule]:
        """The rules whose conditions hold; memoised on the values of the fields the conditions read."""
        fields = self._condition_fields.get(event_type)
        if fields is None:
            return []
        key = (event_type, *(data.get(name) for name in fields))
        try:
            return self._match_cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: match without the memo
            key = None
        matched = [rule for rule, conditions in self._matchers[event_type] if _holds(conditions, data)]
        if key is not None and len(self._match_cache) < 100_000:
            self._match_cache[key] = matched
        return matched

    @staticmethod
    def _recipients(rule: Rule, data: dict) -> list[tuple[str, int]]:
        if rule.points_by_place is not None:
            out = []
            for placing in data.get("ranking") or ():
                pts = rule.points_by_place.get(placing.get("place"))
                if pts and placing.get("user_id"):
                    out.append((placing["user_id"], pts))
            return out
        user = data.get(rule.to)
        if not isinstance(user, str) or not user:
            return []  # e.g. an anonymised (deleted) author
        if rule.not_self and data.get(rule.not_self) == user:
            return []
        return [(user, rule.points)]

    def _add_award(self, f: Fact, rule: Rule, user: str, base: int, chain_key, touched: set[Award]) -> None:
        data = f.data
        toggles = []
        for post in (data.get("post_id"), data.get("question_id")):
            if post:
                toggles += [("post", post), ("hidden", post)]
        if f.source == COMMUNITY_EVENT_SOURCE and data.get("event_id"):
            toggles.append(("cevent", data["event_id"]))
        tags, sig = data.get("tags"), data.get("sig_id")
        scope_key = (tuple(tags) if tags else (), sig)
        scopes = self._scopes.get(scope_key)
        if scopes is None:
            scopes = ["global", *(f"tag:{t}" for t in dict.fromkeys(scope_key[0]))]
            if sig:
                scopes.append(f"sig:{sig}")
            scopes = self._scopes[scope_key] = tuple(scopes)
        once = (rule.id, *(str(data.get(k)) for k in rule.once_per)) if rule.once_per else None
        award = Award(f.id, f.type, rule, user, base, f.time_us, scopes, chain_key, tuple(toggles), once)
        if chain_key:
            self.chain_awards.setdefault(chain_key, []).append(award)
        for t in toggles:
            self.toggle_awards.setdefault(t, []).append(award)
        if once:
            group = self.once_groups.setdefault(once, [])
            group.append(award)
            touched.update(group)  # the earliest of the group wins; a late earlier one replaces the winner
        touched.add(award)

    def _set_status(self, user: str, item: tuple) -> None:
        if self.tracking:
            self.touched_status.add(user)
        events = self.status_events.setdefault(user, [])
        insort(events, item)
        statuses = [e[-1] for e in events]
        current = "deleted" if "deleted" in statuses else statuses[-1]  # deletion is final
        if current == "active":
            self.excluded.discard(user)
        else:
            self.excluded.add(user)

    # ---- derive entries of one award ----------------------------------------------------------------
    def _timeline(self, a: Award) -> list[tuple[str, tuple, str]]:
        """[(kind, (time_us, version, event_id), event type)]: the award's transitions in event-time order."""
        if a.once and min(self.once_groups[a.once], key=lambda x: (x.time_us, x.event_id)) is not a:
            return []
        start = (a.time_us, 0, a.event_id)
        end = None
        if a.chain:
            found = False
            for item in self.chain_events[a.chain]:
                if item[2] == a.event_id:
                    start, found = item[:3], True
                elif found:
                    end = item
                    break
        state = {}
        changes = []
        for t in a.toggles:
            for item in self.toggle_events.get(t, ()):
                if item[:3] <= start:
                    state[t] = item[3]
                elif end is None or item[:3] < end[:3]:
                    changes.append((item, t))
        active = all(state.values())
        out = [(AWARD, start, a.event_type)] if active else []
        for item, t in sorted(changes):
            state[t] = item[3]
            now = all(state.values())
            if now != active:
                out.append((REGRANT if now else REVERSAL, item[:3], item[4]))
                active = now
        if end is not None and active:
            out.append((REVERSAL, end[:3], end[3]))
        return out

    def _simple(self, a: Award) -> bool:
        if a.once and len(self.once_groups[a.once]) > 1:
            return False
        if a.chain and self.chain_events[a.chain][-1][2] != a.event_id:
            return False
        toggle_events = self.toggle_events
        for t in a.toggles:
            if t in toggle_events:
                return False
        return True

    def _rederive(self, a: Award, dirty: dict[str, tuple], result: BatchResult) -> None:
        ledger = self.ledgers.get(a.user)
        if ledger is None:
            ledger = self.ledgers[a.user] = Ledger(a.user)
        if not a.entries and self._simple(a):
            # the common case: a new award, last of its chain, nothing toggled: one plain award entry
            sk = (a.time_us, 1, a.event_id, a.rule.id, a.event_id)
            key = (a.event_id, a.rule.id)
            entry = Entry(key, sk, AWARD, a, a.base, a.time_us, a.event_id, a.event_type, None,
                          exempt=a.rule.cap_exempt)
            a.entries[key] = entry
            ledger.add(entry)
            result.new_entries += 1
            _mark(dirty, a.user, sk)
            return
        wanted: dict[tuple, tuple] = {}
        last_on = None
        for kind, (time_us, _v, event_id), event_type in self._timeline(a):
            if kind == AWARD:
                key = (a.event_id, a.rule.id)
            else:
                key = (event_id, a.rule.id, a.event_id)
            # at one instant, undo the old before applying the new; never sort before the reversed entry
            rank = 1 if kind != REVERSAL else (0 if time_us > a.time_us else 2)
            time_us = max(time_us, a.time_us)
            sk = (time_us, rank, event_id, a.rule.id, a.event_id)
            wanted[key] = (kind, sk, time_us, event_id, last_on if kind == REVERSAL else None, event_type)
            if kind != REVERSAL:
                last_on = key
        reversed_keys = {spec[4] for spec in wanted.values() if spec[4] is not None}
        for key, old in list(a.entries.items()):
            spec = wanted.get(key)
            if spec is None or spec[1] != old.sk or spec[4] != old.reverses:
                ledger.remove(old)
                del a.entries[key]
                if old.points:
                    self._bump(a, old, -old.points)
                _mark(dirty, a.user, old.sk)
        for key, (kind, sk, time_us, event_id, reverses, event_type) in wanted.items():
            entry = a.entries.get(key)
            if entry is None:
                base = -a.base if kind == REVERSAL else a.base
                entry = Entry(key, sk, kind, a, base, time_us, event_id, event_type, reverses,
                              exempt=a.rule.cap_exempt)
                a.entries[key] = entry
                ledger.add(entry)
                result.new_entries += 1
                _mark(dirty, a.user, sk)
            is_reversed = key in reversed_keys
            if entry.reversed != is_reversed:
                entry.reversed = is_reversed
                _mark(dirty, a.user, entry.sk)

    # ---- effective points ---------------------------------------------------------------------------
    def _recompute(self, ledger: Ledger, from_sk: tuple, result: BatchResult) -> None:
        cap, floor = self.rules.daily_cap, self.rules.floor
        keys = ledger.keys
        i = bisect_left(keys, from_sk)
        if i > 0:
            prev = ledger.by_sk[keys[i - 1]]
            running, day, used, debt = prev.total_after, prev.time_us // DAY_US, prev.used_after, prev.debt_after
        else:
            running, day, used, debt = 0, None, 0, 0
        by_sk, entries = ledger.by_sk, ledger.entries
        bump = self._bump
        for sk in keys[i:]:
            e = by_sk[sk]
            d = e.time_us // DAY_US
            if d != day:
                day, used = d, 0
            if e.kind == REVERSAL:
                target = entries.get(e.reverses)
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
                bump(e.award, e, pts - e.points)
                e.points = pts
            e.capped, e.used_after, e.total_after, e.debt_after = capped, used, running, debt
        ledger.total = running if len(keys) else 0

    def _bump(self, a: Award, e: Entry, delta: int) -> None:
        """Add delta to every board the entry counts on: each scope x (all-time, its month, its week)."""
        day = e.time_us // DAY_US
        cell = (a.scopes, day)
        boards = self._board_lists.get(cell)
        if boards is None:
            boards = [self.boards.setdefault(key, Board()) for key in self.board_keys(a.scopes, day)]
            self._board_lists[cell] = boards
        user = a.user
        if self.tracking:
            self.touched_cells.add((cell, user))
        for board in boards:
            points = board.points
            value = points.get(user, 0) + delta
            if value:
                points[user] = value
            else:
                del points[user]

    def board_keys(self, scopes: tuple[str, ...], day: int) -> list[tuple[str, str]]:
        keys = self._board_keys.get((scopes, day))
        if keys is None:
            month, week = windows_of_day(day)
            keys = self._board_keys[(scopes, day)] = [(s, w) for s in scopes for w in ("all", month, week)]
        return keys

    def take_board_changes(self) -> dict[tuple[str, str], dict[str, int]]:
        """The current points of every (board, user) touched since the last call (0 = off the board, also for
        excluded users), and forget them."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        boards, excluded = self.boards, self.excluded
        for (scopes, day), user in self.touched_cells:
            for key in self.board_keys(scopes, day):
                out.setdefault(key, {})[user] = 0 if user in excluded else boards[key].points.get(user, 0)
        for user in self.touched_status:  # rare: every board the user is on
            off = user in excluded
            for key, board in boards.items():
                if user in board.points:
                    out.setdefault(key, {})[user] = 0 if off else board.points[user]
        self.touched_cells, self.touched_status = set(), set()
        return out

    def board_state(self):
        """Every board's members as they should appear (excluded users left out): (key, {user: points})."""
        excluded = self.excluded
        for key, board in self.boards.items():
            yield key, ({u: p for u, p in board.points.items() if u not in excluded} if excluded else board.points)

    # ---- queries ------------------------------------------------------------------------------------
    def total(self, user: str) -> int:
        ledger = self.ledgers.get(user)
        return ledger.total if ledger else 0

    def window_points(self, user: str, scope: str, window_key: str) -> int:
        board = self.boards.get((scope, window_key))
        return board.points.get(user, 0) if board else 0

    def totals(self) -> dict[str, int]:
        return {u: l.total for u, l in self.ledgers.items() if l.entries}

    def as_of(self, user: str, t_us: int) -> tuple[int, list[Entry]]:
        """The user's total counting only entries up to t_us (so also only reversals up to then)."""
        ledger = self.ledgers.get(user)
        if ledger is None:
            return 0, []
        subset = [e for e in ledger.ordered() if e.time_us <= t_us]
        copies: dict[tuple, Entry] = {}
        reversed_keys = {e.reverses for e in subset if e.kind == REVERSAL}
        scratch = Ledger(user)
        for e in subset:
            c = Entry(e.key, e.sk, e.kind, e.award, e.base, e.time_us, e.source_event_id, e.source_event_type,
                      e.reverses, e.key in reversed_keys, e.exempt)
            copies[e.key] = c
            scratch.add(c)
        probe = Engine.__new__(Engine)
        probe.rules, probe.boards, probe._board_lists, probe._board_keys = self.rules, {}, {}, {}
        probe.tracking = False
        probe._recompute(scratch, (), BatchResult())
        return scratch.total, scratch.ordered()


def _conditions(rule: Rule) -> tuple:
    return tuple((name, frozenset(v) if isinstance(v, list) else v, isinstance(v, list))
                 for name, v in rule.when.items())


def _holds(conditions: tuple, data: dict) -> bool:
    for name, wanted, is_set in conditions:
        value = data.get(name)
        if (value not in wanted) if is_set else (value != wanted):
            return False
    return True


def _mark(dirty: dict[str, tuple], user: str, sk: tuple) -> None:
    current = dirty.get(user)
    if current is None or sk < current:
        dirty[user] = sk
