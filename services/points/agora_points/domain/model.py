"""What flows through the points engine's two stages (see engine.py for the whole picture).

Stage 1 (`Derivation`, keyed by the *root* an event is about: a question thread, an article, a community event,
a user) turns domain events into awards and each award's entries (award, reversal, re-grant). Stage 2 (`Book`,
keyed by *user*) keeps each user's entries in event-time order and computes what they count (daily cap, floor),
the totals, the boards and the exclusions. What goes from one to the other is an `AwardState`: the complete
current entries of one award of one user, which replaces what stage 2 had for it. Replacing is idempotent, so a
state delivered twice, or again after a restart, changes nothing; `revision` orders the states of one award.
"""

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

AWARD, REVERSAL, REGRANT = "award", "reversal", "regrant"


@dataclass(slots=True, frozen=True)
class Fact:
    """One domain event, as the engine needs it (already validated by the caller)."""

    id: str
    type: str
    source: str
    time_us: int
    version: int
    data: dict[str, Any]


def root_of(fact: Fact) -> str:
    """The aggregate whose events stage 1 must see together: chains, switches and once-per groups never cross it.
    An answer's awards hang on its question's switches, so a thread is one root; a community event is one."""
    data = fact.data
    if fact.source == "content":
        return f"post:{data.get('question_id') or data.get('post_id')}"
    if fact.source == "events":
        return f"event:{data.get('event_id')}"
    return f"user:{data.get('user_id')}"


@dataclass(slots=True)  # never changed once made (not frozen: frozen ones are slower to build)
class EntrySpec:
    """One entry of an award as stage 1 derives it; stage 2 adds what it counts."""

    key: tuple  # (awarding event, rule) for the award; (causing event, rule, awarding event) for later ones
    sk: tuple  # sort key: event-time order
    kind: str
    base: int
    time_us: int
    source_event_id: str
    source_event_type: str
    reverses: tuple | None  # the key of the entry a reversal undoes
    reversed: bool  # undone by a later reversal (it then consumes no daily cap)


@dataclass(slots=True)  # never changed once made (not frozen: frozen ones are slower to build)
class AwardState:
    user: str
    event_id: str  # the awarding event
    event_type: str
    rule_id: str
    exempt: bool  # from the daily cap
    scopes: tuple[str, ...]  # boards: "global", "tag:<tag>", "sig:<sig>"
    revision: int  # per award, increasing: a stage 2 that has seen a later one ignores an older one
    entries: tuple[EntrySpec, ...]  # empty: the award gives nothing (a once-per loser, switched off at its start)

    @property
    def award_id(self) -> tuple[str, str, str]:
        return (self.event_id, self.rule_id, self.user)


@dataclass(slots=True)  # never changed once made (not frozen: frozen ones are slower to build)
class StatusFact:
    """A user's status change (suspension, reinstatement, deletion), for stage 2."""

    user: str
    order: tuple  # (time_us, version, event id)
    status: str  # "suspended", "active", "deleted"


@dataclass(slots=True)  # never changed once made
class NameFact:
    """A member's display name (registration, profile edit; None once the account is deleted), for the boards."""

    user: str
    order: tuple  # (time_us, version, event id)
    name: str | None


@dataclass
class BatchResult:
    admitted: int = 0
    duplicates: int = 0
    by_type: Counter = field(default_factory=Counter)
    new_entries: int = 0
    cap_hits: int = 0
    changed_users: set[str] = field(default_factory=set)
    applied_times_us: list[int] = field(default_factory=list)


V = TypeVar("V")


class StateMap(Protocol[V]):
    """A stage's state by key (a chain, an award, a user's ledger head...), changed in place by the engine. A
    worker's is on disk with the recently used part in memory (adapters/state_store.py); `settle()` after each
    batch lets it move what was used least recently out of memory, so no value is held across it."""

    def get(self, key: str) -> V | None: ...

    def peek(self, key: str) -> V | None:
        """get() for a read: the value is not kept in memory for it."""

    def __getitem__(self, key: str) -> V: ...

    def __setitem__(self, key: str, value: V) -> None: ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def items(self) -> Iterable[tuple[str, V]]: ...

    def values(self) -> Iterable[V]: ...

    def settle(self) -> None: ...

    def clear(self) -> None: ...


class InMemory(dict[str, V]):
    """A StateMap that is a plain dict: the engine run whole in one process (what-if, replay-check, tests)."""

    def peek(self, key: str) -> V | None:
        return self.get(key)

    def settle(self) -> None:
        return None


class SortedIndex(Protocol):
    """Each user's ledger entries in event-time order: (user, sort key) -> entry key. Stage 2 reads a ledger in
    order only from where a change lands (mostly the end), and a page of the ledger API from where it stops, so
    neither needs the user's whole history in memory. A worker's is on disk (adapters/state_store.py)."""

    def put(self, user: str, sk: tuple, key: tuple) -> None: ...

    def delete(self, user: str, sk: tuple) -> None: ...

    def before(self, user: str, sk: tuple) -> tuple | None:
        """The key of the user's last entry sorting before sk."""

    def scan(self, user: str, start: tuple | None = None, end: tuple | None = None, *,
             reverse: bool = False) -> Iterator[tuple]:
        """The keys of the user's entries with start <= sort key < end, in order (newest first if reverse)."""

    def clear(self) -> None: ...


class InMemoryIndex:
    """A SortedIndex in plain dicts and lists (the engine run whole in one process)."""

    def __init__(self) -> None:
        self._sks: dict[str, list[tuple]] = {}
        self._keys: dict[str, dict[tuple, tuple]] = {}

    def put(self, user: str, sk: tuple, key: tuple) -> None:
        keys = self._keys.setdefault(user, {})
        if sk not in keys:
            sks = self._sks.setdefault(user, [])
            if not sks or sks[-1] < sk:
                sks.append(sk)
            else:
                insort(sks, sk)
        keys[sk] = key

    def delete(self, user: str, sk: tuple) -> None:
        if self._keys.get(user, {}).pop(sk, None) is not None:
            sks = self._sks[user]
            del sks[bisect_left(sks, sk)]

    def before(self, user: str, sk: tuple) -> tuple | None:
        sks = self._sks.get(user, [])
        i = bisect_left(sks, sk)
        return self._keys[user][sks[i - 1]] if i else None

    def scan(self, user: str, start: tuple | None = None, end: tuple | None = None, *,
             reverse: bool = False) -> Iterator[tuple]:
        sks = self._sks.get(user, [])
        lo = bisect_left(sks, start) if start is not None else 0
        hi = bisect_left(sks, end) if end is not None else len(sks)
        keys = self._keys.get(user, {})
        chosen = sks[lo:hi]
        return iter([keys[sk] for sk in (reversed(chosen) if reverse else chosen)])

    def clear(self) -> None:
        self._sks.clear()
        self._keys.clear()
