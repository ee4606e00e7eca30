"""Replay and what-if: score the whole event log again in fresh engines, never touching the live one."""

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agora_common.events import BadEvent

from agora_points.adapters.leaderboards import Leaderboards
from agora_points.adapters.log_reader import read_log
from agora_points.adapters.state_codec import book_state, derivation_state
from agora_points.adapters.state_store import StateStore
from agora_points.domain.engine import Engine
from agora_points.domain.rules import RuleSet
from agora_points.service.decode import Decoder, relevant_types
from agora_points.service.processor import PointsProcessor


@contextmanager
def scratch_store(processor: PointsProcessor) -> Iterator[StateStore]:
    """A state store of its own for scratch engines: the whole history does not fit in memory either, and the live
    state keeps its cache."""
    store = StateStore(Path(tempfile.mkdtemp(prefix="agora-points-scratch-")), cache_mib=processor.store.cache_mib)
    try:
        yield store
    finally:
        store.close()


async def score_log(processor: PointsProcessor, rule_sets: list[RuleSet], store: StateStore
                    ) -> tuple[list[Engine], int]:
    engines = []
    for i, rules in enumerate(rule_sets):
        engines.append(Engine(rules, derivation_state(store, f"derive:{i}", rules),
                              book_state(store, f"book:{i}", rules)))
    decode = Decoder(frozenset().union(*(relevant_types(r) for r in rule_sets)))
    events = 0
    # small chunks: scoring runs in the API's event loop, so it yields between them to live batches and requests
    async for records, _ in read_log(processor.kafka, processor.input_topics, batch=2_000):
        facts = []
        for r in records:
            try:
                fact = decode(r.value)
            except BadEvent:
                continue
            if fact is not None:
                facts.append(fact)
        events += len(records)
        for engine in engines:
            engine.apply(facts)
        await asyncio.sleep(0)  # let live batches and requests through between chunks
    return engines, events


def _by_rule(engine: Engine) -> Counter:
    out: Counter = Counter()
    for award in engine.book.awards.values():
        out[award.rule.id] += sum(e.points for e in award.entries.values())
    return out


def _titles(rules: RuleSet, total: int) -> list[str]:
    return [t.title for t in rules.titles if total >= t.threshold]


async def what_if(*, processor: PointsProcessor, proposed: RuleSet, limit: int) -> dict:
    started = time.perf_counter()
    with scratch_store(processor) as store:
        return await _what_if(processor, proposed, limit, store, started)


async def _what_if(processor: PointsProcessor, proposed: RuleSet, limit: int, store: StateStore,
                   started: float) -> dict:
    (current, candidate), events = await score_log(processor, [processor.rules, proposed], store)
    users = set(current.ledgers) | set(candidate.ledgers)
    # each ledger is read from the scratch store once here, not once per question asked of it
    totals_a, totals_b = current.totals(), candidate.totals()
    changes = []
    for user in users:
        a, b = totals_a.get(user, 0), totals_b.get(user, 0)
        ta, tb = _titles(current.rules, a), _titles(candidate.rules, b)
        if a != b or ta != tb:
            changes.append({"user_id": user, "current": a, "proposed": b, "delta": b - a,
                            "titles_current": ta, "titles_proposed": tb})
    changes.sort(key=lambda c: (-abs(c["delta"]), c["user_id"]))
    rules_a, rules_b = _by_rule(current), _by_rule(candidate)
    return {
        "current_version": processor.rules.version,
        "proposed_version": proposed.version,
        "events_scored": events,
        "users": len(users),
        "users_changed": len(changes),
        "total_current": sum(totals_a.values()),
        "total_proposed": sum(totals_b.values()),
        "by_rule": [{"rule_id": r, "current": rules_a.get(r, 0), "proposed": rules_b.get(r, 0)}
                    for r in sorted(set(rules_a) | set(rules_b))],
        "changes": changes[:limit],
        "seconds": round(time.perf_counter() - started, 3),
    }


async def verify_replay(*, processor: PointsProcessor, leaderboards: Leaderboards, wait: float = 10.0) -> dict:
    """Rebuild from the log with the live rules in a scratch engine and compare with the users this worker
    serves, and with every Redis board (written by all the workers)."""
    started = time.perf_counter()
    with scratch_store(processor) as store:
        return await _verify_replay(processor, leaderboards, wait, store, started)


async def _verify_replay(processor: PointsProcessor, leaderboards: Leaderboards, wait: float, store: StateStore,
                         started: float) -> dict:
    (rebuilt,), events = await score_log(processor, [processor.rules], store)
    keeper = processor.keeper
    rebuilt_totals = rebuilt.totals()

    def compare() -> list[dict]:
        live: dict[str, int] = {}  # every ledger held is read once per comparison (from the state store)
        for p in keeper.serving:
            live |= keeper.books[p].totals()
        mine = {u for u in rebuilt_totals if keeper.book_of(u) is not None} | set(live)
        return [{"user_id": u, "live": live.get(u, 0), "replayed": rebuilt_totals.get(u, 0)}
                for u in sorted(mine) if live.get(u, 0) != rebuilt_totals.get(u, 0)]

    rebuilt_boards = list(rebuilt.board_state())

    async def differing_boards() -> list[str]:
        out = []
        for key, members in rebuilt_boards:
            if await leaderboards.members(key) != members:
                out.append(f"{key[0]}|{key[1]}")
        return out

    deadline = time.monotonic() + wait
    while True:  # the live stages may still be applying the newest events, and the boards be on their way
        mismatches = compare()
        boards_differing = await differing_boards()
        if (not mismatches and not boards_differing) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    users_checked = sum(1 for u in rebuilt_totals if keeper.book_of(u) is not None)
    return {
        "identical": not mismatches and not boards_differing,
        "boards_checked": len(rebuilt_boards),
        "boards_differing": boards_differing[:100],
        "events_in_log": events,
        "events_replayed": rebuilt.events_applied,
        "users": len(rebuilt_totals),
        "users_checked": users_checked,
        "mismatches": mismatches[:100],
        "seconds": round(time.perf_counter() - started, 3),
    }
