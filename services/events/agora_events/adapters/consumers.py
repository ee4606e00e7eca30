"""What the events service consumes: the users topic, to free the places of deleted accounts."""

from typing import Any

from agora_common.events import Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.users import UserDeleted

from agora_events.service import registrations
from agora_events.service.context import Ctx

HANDLERS: EventHandlers[Any] = EventHandlers("events.members")


@HANDLERS.on(UserDeleted)
async def _deleted(event: UserDeleted, envelope: Envelope, *, ctx: Ctx) -> None:
    await registrations.withdraw_user(ctx=ctx, user_id=event.user_id)


async def handle_users_event(envelope: Envelope, *, ctx: Ctx) -> None:
    await HANDLERS.dispatch(envelope, ctx=ctx)
