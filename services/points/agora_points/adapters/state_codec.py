"""The stages' values as bytes for the worker's state store (state_store.py): stage 1's switched roots, chains,
awards and once-per groups, stage 2's ledger heads, awards and cells (see derivation.DerivationState and
book.BookState). JSON (orjson), like the service's topics (wire.py); tuples come back as tuples, since the engine
compares and hashes its keys.

A worker's own disk is wiped when it starts, but state snapshots (snapshots.py) carry these bytes to other
workers, of other versions during a rolling upgrade: change an encoding, or what a map holds, and bump LAYOUT, so
that a snapshot of another layout is not loaded (the partition is then restored from its input's start).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from agora_points.adapters.state_store import StateStore
from agora_points.domain.book import BookAward, BookState, Entry, Ledger
from agora_points.domain.derivation import Award, Chain, DerivationState, Root
from agora_points.domain.model import EntrySpec
from agora_points.domain.rules import RuleSet

LAYOUT = 1


class Codec(NamedTuple):
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    size: Callable[[Any], int]  # what the store budgets by (state_store.BYTES_PER_UNIT each)
    release: Callable[[Any], None]  # an evicted value: break its reference cycles, so it is freed at once


def _opt(value: list | None) -> tuple | None:
    return tuple(value) if value else None


def ledger_codec() -> Codec:
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
    """A book's maps in a worker's store (each emptied first). Awards go to disk after their batch: one is read
    again only when it is reversed or a change lands before it."""
    return BookState(
        store.map(name, ledger_codec()), store.map(f"{name}:awards", award_codec(rules), keep=False),
        store.index(f"{name}:order"), store.map(f"{name}:cells", _json_codec(lambda cells: len(cells) // 6)),
        store.index(f"{name}:windows"))


def root_codec() -> Codec:
    """A switched root's switch events (derivation.Root)."""

    def encode(root: Root) -> bytes:
        return orjson.dumps(list(root.toggle_events.items()))

    def decode(raw: bytes) -> Root:
        return Root({tuple(key): [tuple(item) for item in items] for key, items in orjson.loads(raw)})

    return Codec(encode, decode, lambda root: sum(map(len, root.toggle_events.values())), lambda root: None)


def chain_codec() -> Codec:
    def encode(chain: Chain) -> bytes:
        return orjson.dumps([chain.events, chain.awards])

    def decode(raw: bytes) -> Chain:
        events, awards = orjson.loads(raw)
        return Chain([tuple(item) for item in events], awards)

    return Codec(encode, decode, lambda chain: len(chain.events), lambda chain: None)


def stage1_award_codec(rules: RuleSet) -> Codec:
    """One award as stage 1 derives it (derivation.Award), with the entries it last emitted."""
    rules_by_id = rules.by_id()

    def encode(a: Award) -> bytes:
        return orjson.dumps([
            a.event_id, a.event_type, a.rule.id, a.user, a.base, a.time_us, a.scopes, a.root, a.chain, a.toggles,
            a.once, a.revision, [[s.key, s.sk, s.kind, s.base, s.time_us, s.source_event_id, s.source_event_type,
                                  s.reverses, s.reversed] for s in a.emitted]])

    def decode(raw: bytes) -> Award:
        (event_id, event_type, rule_id, user, base, time_us, scopes, root, chain, toggles, once, revision,
         emitted) = orjson.loads(raw)
        return Award(event_id, event_type, rules_by_id[rule_id], user, base, time_us, tuple(scopes), root,
                     _opt(chain), tuple(tuple(t) for t in toggles), _opt(once), revision, tuple(
                         EntrySpec(tuple(key), tuple(sk), kind, sbase, stime, sid, stype, _opt(rev), reversed_)
                         for key, sk, kind, sbase, stime, sid, stype, rev, reversed_ in emitted))

    return Codec(encode, decode, lambda a: len(a.emitted), lambda a: None)


def _json_codec(size: Callable[[Any], int]) -> Codec:
    """Plain JSON values: a window's cells ({scope: points}), a once-per group (award keys), a seen mark (1)."""
    return Codec(orjson.dumps, orjson.loads, size, lambda value: None)


def derivation_state(store: StateStore, name: str, rules: RuleSet) -> DerivationState:
    """A derivation's maps in a worker's store (each emptied first). Awards and seen marks go to disk after
    their batch: an award is read again only when its chain moves or a switch flips, an id only if it comes
    again."""
    return DerivationState(
        store.map(name, root_codec()), store.map(f"{name}:seen", _json_codec(lambda mark: 0), keep=False),
        store.map(f"{name}:chains", chain_codec()), store.map(f"{name}:awards", stage1_award_codec(rules), keep=False),
        store.index(f"{name}:switched"), store.map(f"{name}:once", _json_codec(len)))
