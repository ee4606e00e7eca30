"""A snapshot written by a forked child restores an engine that goes on exactly like the original."""

from datetime import UTC, datetime, timedelta

from agora_common.events import Envelope
from agora_common.events.content import PostVoted, VoteRetracted
from agora_points.domain.engine import Engine
from agora_points.domain.rules import load_rules
from agora_points.service.decode import decode, relevant_types
from agora_points.service.snapshots import Snapshots

RULES = load_rules()
REL = relevant_types(RULES)
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def facts(start: int, n: int):
    out = []
    for i in range(start, start + n):
        payload = PostVoted(post_id=f"p{i % 40}", post_type="answer", author_id=f"a{i % 7}", voter_id=f"v{i % 13}",
                            value=1 if i % 5 else -1, tags=[f"t{i % 3}"], score=0)
        if i % 11 == 0:
            payload = VoteRetracted(post_id=f"p{i % 40}", post_type="answer", author_id=f"a{i % 7}",
                                    voter_id=f"v{(i - 13) % 13}", previous_value=1, score=0)
        env = Envelope.wrap(payload, subject=f"p{i % 40}", version=i + 1, time=T0 + timedelta(minutes=i * 9))
        out.append(decode(env.to_bytes(), REL))
    return out


async def test_snapshot_round_trip_then_both_continue_identically(tmp_path):
    live = Engine(RULES)
    live.apply(facts(0, 600))
    snaps = Snapshots(tmp_path, rules=RULES, topic_prefix="x.", interval=0.0)
    snaps.maybe_save(live, {("x.content", 0): 600})
    await snaps.finish()
    restored, offsets = Snapshots(tmp_path, rules=RULES, topic_prefix="x.", interval=1).load()
    assert offsets == {("x.content", 0): 600}
    assert restored.totals() == live.totals() and sum(live.totals().values()) > 0
    more = facts(600, 300)
    live.apply(more)
    restored.apply(facts(550, 350))  # overlapping replay after the snapshot: duplicates ignored
    assert restored.totals() == live.totals()
    for key, board in live.boards.items():
        assert restored.boards[key].points == board.points


async def test_snapshot_for_other_rules_or_topics_is_ignored(tmp_path):
    engine = Engine(RULES)
    engine.apply(facts(0, 10))
    snaps = Snapshots(tmp_path, rules=RULES, topic_prefix="x.", interval=0.0)
    snaps.maybe_save(engine, {})
    await snaps.finish()
    assert Snapshots(tmp_path, rules=RULES, topic_prefix="y.", interval=1).load() is None
    other = RULES.model_copy(update={"daily_cap": 50})
    assert Snapshots(tmp_path, rules=other, topic_prefix="x.", interval=1).load() is None
