"""A stage's per-key state as bytes for the worker's state store (state_store.py): stage 1's `Root`, stage 2's
`Ledger` heads and `BookAward`s. JSON arrays (orjson), like the service's topics (wire.py); tuples come back as tuples, since the engine
compares and hashes its keys, and an award shared by several of a root's lists comes back as one object.

Only a worker's own disk reads these, and it is wiped when the worker starts, so the layout can change with
the code.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from agora_points.adapters.state_store import StateStore
from agora_points.domain.book import BookAward, BookState, Entry, Ledger
from agora_points.domain.derivation import Award, Root
from agora_points.domain.model import EntrySpec
from agora_points.domain.rules import RuleSet


class Codec(NamedTuple):
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    size: Callable[[Any], int]  # what the store budgets by (state_store.BYTES_PER_UNIT each)
    release: Callable[[Any], None]  # an evicted value: break its reference cycles, so it is freed at once


def _opt(value: list | None) -> tuple | None:
    return tuple(value) if value else None


def ledger_codec(rules: RuleSet) -> Codec:
    """A ledger's head (book.Ledger): total, count, tail."""

    def encode(ledger: Ledger) -> bytes:
        return orjson.dumps([ledger.user, ledger.total, ledger.count, ledger.tail])

    def decode(raw: bytes) -> Ledger:
        user, total, count, tail = orjson.loads(raw)
        ledger = Ledger(user)
        ledger.total, ledger.count = total, count
        if tail is not None:
            ledger.tail = (tuple(tail[0]), *tail[1:])
        return ledger

    return Codec(encode, decode, lambda ledger: 0, lambda ledger: None)


def cells_codec() -> Codec:
    """One user's points on the boards of one window, by scope."""
    return Codec(orjson.dumps, orjson.loads, lambda cells: len(cells) // 6, lambda cells: None)


def award_codec(rules: RuleSet) -> Codec:
    """One award of one user with its entries (book.BookAward)."""
    rules_by_id = rules.by_id()

    def encode(a: BookAward) -> bytes:
        return orjson.dumps([
            a.user, a.event_id, a.event_type, a.rule.id, a.scopes, a.exempt, a.revision,
            [[e.key, e.sk, e.kind, e.base, e.time_us, e.source_event_id, e.source_event_type, e.reverses, e.reversed,
              e.capped, e.points, e.used_after, e.total_after, e.debt_after] for e in a.entries.values()]])

    def decode(raw: bytes) -> BookAward:
        user, event_id, event_type, rule_id, scopes, exempt, revision, entries = orjson.loads(raw)
        a = BookAward(user, rules_by_id[rule_id], tuple(scopes), event_id, event_type, exempt, revision)
        for (key, sk, kind, base, time_us, sid, stype, rev, reversed_, capped, points, used_after, total_after,
             debt_after) in entries:
            key = tuple(key)
            a.entries[key] = Entry(key, tuple(sk), kind, a, base, time_us, sid, stype, _opt(rev), reversed_, exempt,
                                   capped, points, used_after, total_after, debt_after)
        return a

    def size(a: BookAward) -> int:
        return len(a.entries)

    def release(a: BookAward) -> None:
        # entries point at their award and the award at its entries: without this, an evicted award waits for a
        # full collection, and memory grows by gigabytes meanwhile (measured)
        a.entries.clear()

    return Codec(encode, decode, size, release)


def book_state(store: StateStore, name: str, rules: RuleSet) -> BookState:
    """A book's maps in a worker's store: heads, awards, the order of entries (each emptied first)."""
    return BookState(store.map(name, ledger_codec(rules)), store.map(f"{name}:awards", award_codec(rules), keep=False),
                     store.index(f"{name}:order"), store.map(f"{name}:cells", cells_codec()),
                     store.index(f"{name}:windows"))


def root_codec(rules: RuleSet) -> Codec:
    rules_by_id = rules.by_id()

    def encode(root: Root) -> bytes:
        index: dict[int, int] = {}
        awards: list[Award] = []

        def refs(groups: dict[tuple, list[Award]]) -> list:
            out = []
            for key, group in groups.items():
                ids = []
                for a in group:
                    i = index.get(id(a))
                    if i is None:
                        i = index[id(a)] = len(awards)
                        awards.append(a)
                    ids.append(i)
                out.append([key, ids])
            return out

        chain_awards, toggle_awards, once_groups = (
            refs(root.chain_awards), refs(root.toggle_awards), refs(root.once_groups))
        return orjson.dumps([
            list(root.seen), list(root.chain_events.items()), list(root.toggle_events.items()),
            chain_awards, toggle_awards, once_groups,
            [[a.event_id, a.event_type, a.rule.id, a.user, a.base, a.time_us, a.scopes, a.chain, a.toggles, a.once,
              a.revision, [[s.key, s.sk, s.kind, s.base, s.time_us, s.source_event_id, s.source_event_type,
                            s.reverses, s.reversed] for s in a.emitted]] for a in awards]])

    def decode(raw: bytes) -> Root:
        seen, chain_events, toggle_events, chain_awards, toggle_awards, once_groups, awards_doc = orjson.loads(raw)
        awards = [
            Award(event_id, event_type, rules_by_id[rule_id], user, base, time_us, tuple(scopes), _opt(chain),
                  tuple(tuple(t) for t in toggles), _opt(once), revision, tuple(
                      EntrySpec(tuple(key), tuple(sk), kind, sbase, stime, sid, stype, _opt(rev), reversed_)
                      for key, sk, kind, sbase, stime, sid, stype, rev, reversed_ in emitted))
            for (event_id, event_type, rule_id, user, base, time_us, scopes, chain, toggles, once, revision, emitted)
            in awards_doc]
        return Root(
            set(seen),
            {tuple(key): [tuple(item) for item in items] for key, items in chain_events},
            {tuple(key): [awards[i] for i in ids] for key, ids in chain_awards},
            {tuple(key): [tuple(item) for item in items] for key, items in toggle_events},
            {tuple(key): [awards[i] for i in ids] for key, ids in toggle_awards},
            {tuple(key): [awards[i] for i in ids] for key, ids in once_groups},
        )

    def size(root: Root) -> int:
        return len(root.seen)

    return Codec(encode, decode, size, lambda root: None)  # a root has no reference cycles
