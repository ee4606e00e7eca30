"""What the events service consumes: the users topic. Suspended and deleted members may no longer register, sit
exams, submit entries or confirm as speakers (the kernel's member standing); a deleted account gives back its
places (each promotes the next in line)."""

from typing import Any

from agora_common.events import Envelope
from agora_common.standing import standing_handlers

from agora_events.service import registrations
from agora_events.service.context import Ctx


async def _free_places(user_id: str, *, ctx: Ctx, **_: Any) -> None:
    await registrations.withdraw_user(ctx=ctx, user_id=user_id)


HANDLERS = standing_handlers("events.members", on_deleted=_free_places)


async def handle_users_event(envelope: Envelope, *, ctx: Ctx) -> None:
    await HANDLERS.dispatch(envelope, db=ctx.db, ctx=ctx)
