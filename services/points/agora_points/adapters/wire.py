"""The points service's own topics, as bytes: facts (stage 0 -> stage 1, by root) and the states stage 1 sends
stage 2 (by user). JSON (orjson): compact, fast, and readable with any Kafka tool; never pickle, since a message
on a topic must not be able to run code in the reader.

A message carries a batch of items bound for one partition (the partition of each item's key, as Kafka's default
partitioner computes it), not one item: a producer's cost is per message, and stage 1 and stage 2 read a
partition's items in the same order either way.

Tuples travel as arrays and come back as tuples: the engine compares and hashes its keys.
"""

from sys import intern
from typing import Any, TypeAlias

import orjson
from pydantic import BaseModel

from agora_points.domain.model import AwardState, EntrySpec, Fact, NameFact, StatusFact

StageMessage: TypeAlias = AwardState | StatusFact | NameFact


def encode_batch(items: list[list[Any]]) -> bytes:
    return orjson.dumps(items, default=_plain)


def decode_batch(raw: bytes) -> list[list[Any]]:
    return orjson.loads(raw)


def encode_fact(fact: Fact) -> list[Any]:
    return [fact.id, fact.type, fact.source, fact.time_us, fact.version, fact.data]


def _ids(values: list) -> tuple:
    return tuple(intern(v) if isinstance(v, str) else v for v in values)


def _plain(value: Any) -> Any:
    """What orjson does not know: a nested payload model, a set."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode_fact(item: list[Any]) -> Fact:
    id_, type_, source, time_us, version, data = item
    return Fact(id_, type_, source, time_us, version, data)


def encode_stage(message: StageMessage) -> list[Any]:
    if isinstance(message, AwardState):
        return ["a", message.user, message.event_id, message.event_type, message.rule_id, message.exempt,
                message.scopes, message.revision,
                [[e.key, e.sk, e.kind, e.base, e.time_us, e.source_event_id, e.source_event_type, e.reverses,
                  e.reversed] for e in message.entries]]
    if isinstance(message, StatusFact):
        return ["s", message.user, message.order, message.status]
    return ["n", message.user, message.order, message.name]


def decode_stage(doc: list[Any]) -> StageMessage:
    kind = doc[0]
    if kind == "a":
        # Each id appears several times in a state (key, sort key, source): one string object for all of them,
        # as in the process that derived it, or stage 2 would hold a copy per appearance.
        _, user, event_id, event_type, rule_id, exempt, scopes, revision, entries = doc
        event_id, rule_id = intern(event_id), intern(rule_id)
        return AwardState(intern(user), event_id, intern(event_type), rule_id, exempt,
                          tuple(intern(scope) for scope in scopes), revision, tuple(
            EntrySpec(_ids(key), _ids(sk), intern(k), base, t, intern(sid), intern(stype), _ids(rev) if rev else None,
                      reversed_)
            for key, sk, k, base, t, sid, stype, rev, reversed_ in entries))
    if kind == "s":
        return StatusFact(doc[1], tuple(doc[2]), doc[3])
    if kind == "n":
        return NameFact(doc[1], tuple(doc[2]), doc[3])
    raise ValueError(f"unknown stage message kind {kind!r}")
