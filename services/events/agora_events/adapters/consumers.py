"""What the events service consumes: the users topic, to free the places of deleted accounts."""

import logging

from agora_common.events import Envelope
from agora_common.kafka import EventConsumer
from agora_common.topics import Topics

from agora_events.service import registrations
from agora_events.service.context import Ctx

log = logging.getLogger(__name__)

GROUP = "events-service"


def users_consumer(ctx: Ctx) -> EventConsumer:
    topics = Topics(ctx.settings.topic_prefix)

    async def handle(envelope: Envelope) -> None:
        if envelope.type == "UserDeleted":
            await registrations.withdraw_user(ctx=ctx, user_id=envelope.payload().user_id)

    return EventConsumer(bootstrap=ctx.settings.kafka_bootstrap, topics=[topics.users], group_id=GROUP,
                         dead_letter_topic=topics.dead_letter, handler=handle)
