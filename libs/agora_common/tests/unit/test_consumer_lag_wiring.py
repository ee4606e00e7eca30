"""Every service that declares consumers gets the broker-side lag monitor for their groups (agora_common.runtime):
its consumer groups and their topics, and nothing for a consumer that is declared but disabled."""

from agora_common.runtime import ServiceRuntime, group_id
from agora_common.settings import ServiceSettings


async def test_the_runtime_watches_the_lag_of_every_enabled_consumer():
    settings = ServiceSettings(service_name="users", topic_prefix="t.", consumer_lag_interval_s=3)
    runtime = ServiceRuntime(settings, topic="t.users")
    try:
        async def handler(envelope):
            pass

        runtime.consume("activity", topics=["t.content", "t.events"], handler=handler)
        runtime.consume("later", topics=["t.points"], handler=handler, enabled=False)
        assert runtime.lag.groups == {group_id(settings, "activity"): ("t.content", "t.events")}
        assert group_id(settings, "activity") == "t.users.activity"
        assert runtime.lag._interval == 3
    finally:
        await runtime.client.close()
