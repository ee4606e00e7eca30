"""A member's own data, in one document (the right of access: what this service holds about them)."""

from typing import Any

from agora_common.ids import utcnow

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.service import follows, profiles, titles

_INTERNAL = ("password_hash", "email_key", "version")


async def my_data(*, store: Store, user_id: str) -> dict[str, Any]:
    account = await profiles.get_user(store=store, user_id=user_id)
    account = {("id" if k == "_id" else k): v for k, v in account.items() if k not in _INTERNAL}
    activity = await store[c.ACTIVITY].find_one({"_id": user_id}) or {}
    activity.pop("_id", None)
    days = await store[c.ACTIVITY_DAYS].find({"user_id": user_id}, {"_id": 0, "user_id": 0}).sort("day", 1).to_list()
    sessions = await store[c.REFRESH_TOKENS].count_documents(
        {"user_id": user_id, "revoked": False, "used_at": None, "expires_at": {"$gt": utcnow()}})
    audit = [{k: v for k, v in e.items() if k != "_id"} for e in await titles.audit_trail(store=store, user_id=user_id)]
    return {
        "generated_at": utcnow(),
        "account": account,
        "sigs": await profiles.sigs_of(store=store, user_id=user_id),
        "following": await follows.following(store=store, user_id=user_id),
        "followers": await follows.followers(store=store, user_id=user_id, limit=10_000),
        "title_history": audit,
        "activity": {"summary": activity, "days": days},
        "active_sessions": sessions,
    }
