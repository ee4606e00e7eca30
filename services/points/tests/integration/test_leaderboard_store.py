"""The leaderboards live in Redis: scoring goes on while Redis is down (reads of boards answer 503 meanwhile),
and a Redis that comes back empty gets every board again, not only what changed while it was away."""

import pytest
from agora_devservers import start_redis
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka")


async def test_scoring_survives_a_redis_outage_and_an_empty_redis_gets_the_whole_state(agora_env, h, tmp_path):
    redis = start_redis(log_dir=tmp_path)  # our own server, to stop and start again
    env = {**agora_env, "redis_url": redis.url}
    try:
        await h.publish(env, [h.upvote("v1", author="alice", post="p1"), h.upvote("v2", author="bob", post="p2"),
                              h.upvote("v3", author="bob", post="p3", at=1)])
        async with h.Running(env) as client:
            async def board():
                r = await client.get("/api/v1/points/leaderboards")
                assert r.status_code == 200, r.text
                return [(e["rank"], e["user_id"], e["points"]) for e in r.json()["entries"]]

            async def board_is(expected):
                async def check():
                    assert await board() == expected

                await eventually(check, timeout=30)

            await board_is([(1, "bob", 20), (2, "alice", 10)])
            redis.stop()
            down = await client.get("/api/v1/points/leaderboards")
            assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable", down.text
            assert "leaderboard store" in down.json()["error"]["message"] and down.headers["Retry-After"]
            await h.publish(env, [h.upvote("v4", author="carol", post="p4", at=2),
                                  h.upvote("v5", author="carol", post="p5", at=3),
                                  h.upvote("v6", author="carol", post="p6", at=4)])
            await h.total_is(client, "carol", 30)  # scoring did not wait for Redis
            restarted = start_redis(port=redis.port, log_dir=tmp_path)  # same address, no data
            try:
                await board_is([(1, "carol", 30), (2, "bob", 20), (3, "alice", 10)])
                rank = (await client.get("/api/v1/points/users/alice/rank")).json()
                assert (rank["rank"], rank["participants"]) == (3, 3)
            finally:
                restarted.stop()
    finally:
        redis.stop()


async def test_the_service_serves_without_redis_at_start_up_and_writes_the_boards_when_it_answers(agora_env, h,
                                                                                                   tmp_path):
    redis = start_redis(log_dir=tmp_path)
    redis.stop()  # its address, with nothing listening yet
    env = {**agora_env, "redis_url": redis.url}
    await h.publish(env, [h.upvote("v1", author="alice", post="p1"), h.upvote("v2", author="bob", post="p2")])
    async with h.Running(env) as client:  # ready without Redis: totals and ledgers do not need it
        await h.total_is(client, "alice", 10)
        assert (await client.get("/api/v1/points/leaderboards")).status_code == 503
        later = start_redis(port=redis.port, log_dir=tmp_path)
        try:
            async def boards_written():
                r = await client.get("/api/v1/points/leaderboards")
                assert r.status_code == 200 and [e["user_id"] for e in r.json()["entries"]] == ["alice", "bob"]

            await eventually(boards_written, timeout=30)
        finally:
            later.stop()
