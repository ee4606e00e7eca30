"""Honor-title decisions (earned once, lost on reversal, deterministic ids) and the decoder's verdicts."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from agora_common.events import BadEvent, Envelope
from agora_common.events.content import PostDeleted, PostVoted, QuestionAsked, QuestionEdited
from agora_points.domain.engine import Engine
from agora_points.domain.rules import load_rules
from agora_points.service.decode import decode, relevant_types
from agora_points.service.stages import Keeper

RULES = load_rules()
REL = relevant_types(RULES)
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def upvote(i: int, post: str = "p") -> Envelope:
    return Envelope.wrap(PostVoted(post_id=f"{post}{i}", post_type="answer", author_id="alice", voter_id=f"v{i}",
                                   value=1, score=1), subject=f"{post}{i}", version=1, time=T0 + timedelta(days=i))


def keeper_over(engine: Engine) -> Keeper:
    """A stage-2 keeper holding one partition, whose book is the engine's (so its store stays unused)."""
    keeper = Keeper(rules=RULES, producer=None, points_topic="unit.points", topic_prefix="unit.",  # type: ignore[arg-type]
                    publish_titles=True, read_titles=None, group_id="g", store=None)  # type: ignore[arg-type]
    keeper.partition_count = 1
    keeper.books[0] = engine.book
    return keeper


async def test_title_earned_once_then_lost_after_a_reversal():
    engine = Engine(RULES)
    p = keeper_over(engine)
    engine.apply([decode(upvote(i).to_bytes(), REL) for i in range(50)])
    assert p.total("alice") == 500
    earned = p.title_changes({"alice"})
    assert [(e.type, e.data["title"], e.data["total_points"]) for e in earned] == [
        ("HonorTitleEarned", "Contributor", 500)]
    assert p.title_changes({"alice"})[0].id == earned[0].id  # same decision, same id (dedup downstream)
    for e in earned:
        p.titles.record(e)
    assert p.title_changes({"alice"}) == []
    deleted = Envelope.wrap(PostDeleted(post_id="p0", post_type="answer", author_id="alice", deleted_by="m"),
                            subject="p0", version=2, time=T0 + timedelta(days=60))
    engine.apply([decode(deleted.to_bytes(), REL)])
    lost = p.title_changes({"alice"})
    assert [(e.type, e.data["title"], e.data["total_points"]) for e in lost] == [("HonorTitleLost", "Contributor", 490)]
    assert lost[0].version == earned[0].version + 1


def test_decoder_verdicts():
    assert decode(upvote(1).to_bytes(), REL).type == "PostVoted"
    edited = Envelope.wrap(QuestionEdited(post_id="q", author_id="a", title="t", body="b", editor_id="a", revision=2),
                           subject="q", version=2)
    assert decode(edited.to_bytes(), REL) is None  # valid, not needed by the engine
    cases = {
        b"": "empty",
        b"{nope": "malformed_envelope",
        b'{"id": "x"}': "malformed_envelope",
        upvote(1).model_copy(update={"type": "Nope"}).to_bytes(): "unknown_type",
        upvote(1).model_copy(update={"data": {"post_id": "p"}}).to_bytes(): "invalid_payload",
        upvote(1).to_bytes().replace(b'"version":1', b'"version":0'): "malformed_envelope",
        upvote(1).model_copy(update={"schema_version": 7}).to_bytes(): "unsupported_schema_version",
    }
    for raw, reason in cases.items():
        with pytest.raises(BadEvent) as info:
            decode(raw, REL)
        assert info.value.reason == reason, raw


def test_an_older_schema_version_is_upcast_on_the_way_in():
    asked = Envelope.wrap(QuestionAsked(post_id="q", author_id="a", title="t", body="b", created_at=T0),
                          subject="q", version=1)
    v1 = asked.model_copy(update={"schema_version": 1, "data": {k: v for k, v in asked.data.items()
                                                                 if k != "event_id"}})
    fact = decode(v1.to_bytes(), REL | {"QuestionAsked"})  # as a rule that scores questions would make it
    assert fact.type == "QuestionAsked" and fact.data["event_id"] is None


async def test_honor_titles_the_broker_did_not_acknowledge_are_sent_again():
    """Defect: the title pump treated a failed publish as sent and dropped the batch."""
    engine = Engine(RULES)
    p = keeper_over(engine)
    sent: list[list[str]] = []

    async def publish_events(topic: str, envelopes: list[Envelope]) -> list[bool]:
        sent.append([e.id for e in envelopes])
        return [len(sent) > 1] * len(envelopes)  # the first try is not acknowledged (broker down)

    p.producer = SimpleNamespace(publish_events=publish_events)  # type: ignore[assignment]
    engine.apply([decode(upvote(i).to_bytes(), REL) for i in range(50)])
    await p.sync_titles({"alice"})
    await p.flush_titles(timeout=5)
    assert len(sent) == 2 and sent[0] == sent[1]  # the same events, with the same ids, once more
    assert p._title_queue == []
