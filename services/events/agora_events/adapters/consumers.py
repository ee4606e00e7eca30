"""What the events service consumes: the users topic, to free the places of deleted accounts."""

import asyncio
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


async def run_when_broker_answers(make_consumer, started: list) -> None:
    """Start the consumer as soon as the broker answers; the service serves requests meanwhile."""
    delay = 1.0
    while True:
        consumer = make_consumer()
        try:
            await consumer.start()
            started.append(consumer)
            return
        except asyncio.CancelledError:
            await _quietly_stop(consumer)
            raise
        except Exception as exc:  # noqa: BLE001 - broker down: retry
            log.warning("consumer could not start; retrying", extra={"error": str(exc)[:200]})
            await _quietly_stop(consumer)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


async def _quietly_stop(consumer: EventConsumer) -> None:
    try:
        await consumer.stop()
    except Exception:
        log.debug("stopping a consumer that never started", exc_info=True)
