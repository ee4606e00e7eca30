"""What the events service consumes: the users topic, to free the places of deleted accounts."""

from agora_common.events import Envelope

from agora_events.service import registrations
from agora_events.service.context import Ctx


async def handle_users_event(ctx: Ctx, envelope: Envelope) -> None:
    if envelope.type == "UserDeleted":
        await registrations.withdraw_user(ctx=ctx, user_id=envelope.payload().user_id)
