"""agora-deadletter against the real broker: list with filters, show, replay to the original topic, purge."""

import asyncio

import pytest
from agora_common import deadletter
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.ids import utcnow
from agora_common.kafka import DeadLetters, ensure_topics
from agora_common.topics import Topics
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka")


def registered(user_id: str) -> Envelope:
    return Envelope.wrap(UserRegistered(user_id=user_id, display_name="U", registered_at=utcnow()),
                         subject=user_id, version=1)


async def test_read_select_replay_and_purge(agora_env):
    bootstrap, topics = agora_env["kafka_bootstrap"], Topics(agora_env["topic_prefix"])
    await ensure_topics(bootstrap, topics.all())
    letters = DeadLetters(bootstrap, topic=topics.dead_letter, group_id="agora.search.members")
    refused, handled_elsewhere = registered("u1"), registered("u2")
    try:
        await letters.send(refused.to_bytes(), key=b"u1", reason="invalid_payload", message="bad",
                           origin=f"{topics.users}/0/17")
        await letters.send(handled_elsewhere.to_bytes(), key=b"u2", reason="handler_failed", message="boom")
        await letters.send(b"{garbage", key=None, reason="malformed_envelope", message="not JSON")
    finally:
        await letters.stop()

    waiting = await deadletter.read(bootstrap, topics)
    assert sorted(letter.reason for letter in waiting) == ["handler_failed", "invalid_payload", "malformed_envelope"]
    chosen = deadletter.select(waiting, reason="invalid_payload", group=None, event_type=None)
    assert [letter.envelope().id for letter in chosen] == [refused.id]
    assert chosen[0].destination(topics) == topics.users  # from x-agora-origin
    no_origin = deadletter.select(waiting, reason="handler_failed", group=None, event_type="UserRegistered")
    assert no_origin[0].destination(topics) == topics.users  # from the envelope's source

    assert await deadletter.replay(bootstrap, topics, chosen + no_origin) == 2
    back = await read_events(bootstrap, topics.users, until=lambda es: len(es) >= 2)
    assert sorted(e.id for e in back) == sorted([refused.id, handled_elsewhere.id])  # same ids: consumers dedupe

    assert await deadletter.purge(bootstrap, topics) == 3
    assert await deadletter.read(bootstrap, topics) == []
    assert len(await deadletter.read(bootstrap, topics, since_purge=False)) == 3  # still there until retention


def test_the_command_line(agora_env, monkeypatch, capsys):
    bootstrap, topics = agora_env["kafka_bootstrap"], Topics(agora_env["topic_prefix"])

    async def seed() -> Envelope:
        await ensure_topics(bootstrap, topics.all())
        letters = DeadLetters(bootstrap, topic=topics.dead_letter, group_id="agora.search.members")
        refused = registered("u1")
        try:
            await letters.send(refused.to_bytes(), key=b"u1", reason="invalid_payload", message="bad",
                               origin=f"{topics.users}/0/17")
            await letters.send(b"{garbage", key=None, reason="malformed_envelope", message="not JSON")
        finally:
            await letters.stop()
        return refused

    refused = asyncio.run(seed())
    monkeypatch.setenv("AGORA_KAFKA_BOOTSTRAP", bootstrap)
    monkeypatch.setenv("AGORA_TOPIC_PREFIX", topics.prefix)
    assert deadletter.main(["list", "--reason", "invalid_payload"]) == 0
    out = capsys.readouterr()
    assert "invalid_payload" in out.out and "UserRegistered u1" in out.out and "1 dead letters" in out.err
    where = out.out.split()[0]
    assert deadletter.main(["show", where]) == 0
    shown = capsys.readouterr().out
    assert refused.id in shown and f'"destination": "{topics.users}"' in shown
    assert deadletter.main(["replay", "--reason", "invalid_payload", "--yes"]) == 0
    assert "replayed 1 of 1" in capsys.readouterr().out
    assert deadletter.main(["purge", "--yes"]) == 0
    assert "purged 2 dead letters" in capsys.readouterr().out
    assert deadletter.main(["list"]) == 0 and "0 dead letters" in capsys.readouterr().err
