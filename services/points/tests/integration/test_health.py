"""Liveness: a points worker whose stage is broken asks to be restarted (its partitions are restored from their
topics on start), instead of serving figures that no longer move."""

import pytest
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "redis")


async def test_a_running_instance_is_live(agora_env, h):
    async with h.Running(agora_env) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_a_failed_live_batch_fails_liveness_and_readiness(agora_env, h):
    """A batch that raises may have left the state half-updated: the worker must ask for a restart (a restore)
    rather than serve figures that no longer move. The failure is injected into stage 1's scoring step; the
    broker and the consumer groups are real."""
    running = h.Running(agora_env)
    async with running as client:
        await h.publish(agora_env, [h.upvote("v0", post="p0")])
        await h.total_is(client, "alice", 10)
        processor = running.app.state.processor

        async def scoring_bug(batches):
            raise ValueError("a bug in scoring")

        processor.deriver.handle = scoring_bug
        await h.publish(agora_env, [h.upvote("v1", post="p1")])

        async def not_live() -> None:
            r = await client.get("/healthz")
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "not_live"
            assert "a bug in scoring" in error["details"]["live_path_healthy"]

        await eventually(not_live, timeout=60)
        assert (await client.get("/readyz")).status_code == 503
