from typing import Annotated

from agora_common.auth import CurrentUser, Principal
from agora_common.errors import Forbidden, NotFound
from agora_common.ids import utcnow
from fastapi import Depends, Request

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.users import is_suspended


def get_store(request: Request) -> Store:
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]


async def active_member(user: CurrentUser, store: StoreDep) -> Principal:
    """The caller, checked against the database: tokens outlive a suspension by up to their lifetime, so
    endpoints that let a member add things (profile text, joins, follows) look the account up first."""
    doc = await store[c.USERS].find_one({"_id": user.id}, {"status": 1, "suspension": 1})
    if doc is None or doc.get("status") == "deleted":
        raise NotFound(f"user {user.id} not found")
    if is_suspended(doc, utcnow()):
        raise Forbidden("your account is suspended", code="account_suspended")
    return user


ActiveMember = Annotated[Principal, Depends(active_member)]
