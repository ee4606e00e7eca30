"""A stage's per-key state as bytes for the worker's state store (state_store.py): stage 1's `Root`, stage 2's
`Ledger`. JSON arrays (orjson), like the service's topics (wire.py); tuples come back as tuples, since the engine
compares and hashes its keys, and an award shared by several of a root's lists comes back as one object.

Only a worker's own disk reads these, and it is wiped when the worker starts, so the layout can change with
the code.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from agora_points.domain.book import BookAward, Entry, Ledger
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
    rules_by_id = rules.by_id()

    def encode(ledger: Ledger) -> bytes:
        return orjson.dumps([ledger.user, ledger.total, [[*key, points] for key, points in ledger.cells.items()], [
            [a.event_id, a.event_type, a.rule.id, a.scopes, a.exempt, a.revision,
             [[e.key, e.sk, e.kind, e.base, e.time_us, e.source_event_id, e.source_event_type, e.reverses, e.reversed,
               e.capped, e.points, e.used_after, e.total_after, e.debt_after] for e in a.entries.values()]]
            for a in ledger.awards.values()]])

    def decode(raw: bytes) -> Ledger:
        user, total, cells, awards = orjson.loads(raw)
        ledger = Ledger(user)
        ledger.total = total
        ledger.cells = {(scope, window): points for scope, window, points in cells}
        by_sk = ledger.by_sk
        for event_id, event_type, rule_id, scopes, exempt, revision, entries in awards:
            a = BookAward(user, rules_by_id[rule_id], tuple(scopes), event_id, event_type, exempt, revision)
            ledger.awards[(event_id, rule_id)] = a
            for (key, sk, kind, base, time_us, sid, stype, rev, reversed_, capped, points, used_after, total_after,
                 debt_after) in entries:
                key, sk = tuple(key), tuple(sk)
                e = Entry(key, sk, kind, a, base, time_us, sid, stype, _opt(rev), reversed_, exempt, capped, points,
                          used_after, total_after, debt_after)
                a.entries[key] = e
                ledger.entries[key] = e
                by_sk[sk] = e
        ledger.keys = sorted(by_sk)
        return ledger

    def size(ledger: Ledger) -> int:
        return len(ledger.entries)

    def release(ledger: Ledger) -> None:
        # entries point at their award and awards at their entries: without this, an evicted ledger waits for a
        # full collection, and memory grows by gigabytes meanwhile (measured)
        for a in ledger.awards.values():
            a.entries.clear()

    return Codec(encode, decode, size, release)


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
