"""The points instance's consumer lag, as the broker sees it (agora_consumer_lag_*, which AgoraKafkaConsumerLagHigh
reads): the instance's group commits what it has applied, so its lag is 0 once the events are scored, and grows
with every event published after its live consumer stopped: the figures come from the broker, not from the
consumer."""

import pytest
from agora_common.lifecycle import cancel_and_wait
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "redis")


def _lag(metrics: str, name: str, group: str) -> dict[str, float]:
    """{topic/partition: value} of one lag gauge for one group, from a /metrics text."""
    values = {}
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{") and f'group="{group}"' in line:
            labels, value = line.rsplit(" ", 1)
            parts = dict(item.split("=", 1) for item in labels[len(name) + 1:-1].split(","))
            values[f"{parts['topic'].strip(chr(34))}/{parts['partition'].strip(chr(34))}"] = float(value)
    return values


async def test_the_lag_is_zero_once_scored_and_grows_after_the_live_consumer_stopped(agora_env, h):
    running = h.Running(agora_env, consumer_lag_interval_s=0.2)
    async with running as client:
        group = running.app.state.processor.groups["route"]  # stage 0: the one reading the domain topics
        await h.publish(agora_env, [h.upvote(f"v{i}", post=f"p{i}") for i in range(6)])
        await h.total_is(client, "alice", 60)

        async def caught_up() -> None:
            lag = _lag((await client.get("/metrics")).text, "agora_consumer_lag_messages", group)
            assert len(lag) == 9 and sum(lag.values()) == 0, lag  # content, users, events: 3 partitions each

        await eventually(caught_up, timeout=30)

        await cancel_and_wait(running.app.state.live)  # the stages are gone; the service runs on
        await h.publish(agora_env, [h.upvote(f"w{i}", post=f"q{i}") for i in range(5)])

        async def behind() -> dict[str, float]:
            text = (await client.get("/metrics")).text
            lag = _lag(text, "agora_consumer_lag_messages", group)
            assert sum(lag.values()) == 5, lag
            waiting = {k for k, v in lag.items() if v}
            seconds = _lag(text, "agora_consumer_lag_seconds", group)
            assert all(seconds[k] > 0 for k in waiting), seconds
            return seconds

        first = await eventually(behind, timeout=30)
        await h.publish(agora_env, [h.upvote(f"x{i}", post=f"r{i}") for i in range(3)])

        async def grown() -> None:
            text = (await client.get("/metrics")).text
            assert sum(_lag(text, "agora_consumer_lag_messages", group).values()) == 8
            seconds = _lag(text, "agora_consumer_lag_seconds", group)
            assert max(seconds.values()) > max(first.values())  # the oldest waiting event keeps ageing

        await eventually(grown, timeout=30)
        # the API still answers from the state it has: the events since are not scored
        assert (await client.get("/api/v1/points/users/alice")).json()["total"] == 60
