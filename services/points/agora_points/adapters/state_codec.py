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

LAYOUT = 2  # 2: entries without the ids their award already names (_pack_entry)


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


def _pack_entry(e: Entry | EntrySpec, event_id: str, rule_id: str, event_type: str) -> list:
    """An entry's fields without what its award already names: most of an award's bytes were its event id, rule
    and event type repeated in every entry's key, sort key and source (measured: awards were 58% of a snapshot
    of changes, at 500-575 bytes each). What does not follow the usual shape is kept whole."""
    sid, key, sk, rev = e.source_event_id, e.key, e.sk, e.reverses
    return [
        0 if key == (event_id, rule_id) else 1 if key == (sid, rule_id, event_id) else key,
        sk[1] if len(sk) == 5 and sk[0] == e.time_us and sk[2:] == (sid, rule_id, event_id)
        and isinstance(sk[1], int) else sk,
        e.kind, e.base, e.time_us, None if sid == event_id else sid,
        None if e.source_event_type == event_type else e.source_event_type,
        0 if rev == (event_id, rule_id) else rev, e.reversed]


def _unpack_entry(packed: list, event_id: str, rule_id: str, event_type: str) -> tuple:
    """(key, sk, kind, base, time_us, source_event_id, source_event_type, reverses, reversed)"""
    key, sk, kind, base, time_us, sid, stype, rev, reversed_ = packed
    sid = event_id if sid is None else sid
    return ((event_id, rule_id) if key == 0 else (sid, rule_id, event_id) if key == 1 else tuple(key),
            (time_us, sk, sid, rule_id, event_id) if isinstance(sk, int) else tuple(sk),
            kind, base, time_us, sid, event_type if stype is None else stype,
            (event_id, rule_id) if rev == 0 else _opt(rev), reversed_)


def award_codec(rules: RuleSet) -> Codec:
    """One award of one user with its entries (book.BookAward)."""
    rules_by_id = rules.by_id()

    def encode(a: BookAward) -> bytes:
        event_id, rule_id, event_type = a.event_id, a.rule.id, a.event_type
        return orjson.dumps([
            a.user, event_id, event_type, rule_id, a.scopes, a.exempt, a.revision,
            [[*_pack_entry(e, event_id, rule_id, event_type), e.capped, e.points, e.used_after, e.total_after,
              e.debt_after] for e in a.entries.values()]])

    def decode(raw: bytes) -> BookAward:
        user, event_id, event_type, rule_id, scopes, exempt, revision, entries = orjson.loads(raw)
        a = BookAward(user, rules_by_id[rule_id], tuple(scopes), event_id, event_type, exempt, revision)
        for packed in entries:
            key, sk, kind, base, time_us, sid, stype, rev, reversed_ = _unpack_entry(packed[:9], event_id, rule_id,
                                                                                     event_type)
            a.entries[key] = Entry(key, sk, kind, a, base, time_us, sid, stype, rev, reversed_, exempt, *packed[9:])
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
        event_id, rule_id, event_type = a.event_id, a.rule.id, a.event_type
        return orjson.dumps([
            event_id, event_type, rule_id, a.user, a.base, a.time_us, a.scopes, a.root, a.chain, a.toggles,
            a.once, a.revision, [_pack_entry(s, event_id, rule_id, event_type) for s in a.emitted]])

    def decode(raw: bytes) -> Award:
        (event_id, event_type, rule_id, user, base, time_us, scopes, root, chain, toggles, once, revision,
         emitted) = orjson.loads(raw)
        return Award(event_id, event_type, rules_by_id[rule_id], user, base, time_us, tuple(scopes), root,
                     _opt(chain), tuple(tuple(t) for t in toggles), _opt(once), revision, tuple(
                         EntrySpec(*_unpack_entry(packed, event_id, rule_id, event_type)) for packed in emitted))

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
