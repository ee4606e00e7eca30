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
        "inbox": await store[c.INBOX].find({"user_id": user_id}, {"user_id": 0}).sort("_id", 1).to_list(),
        "muted_groups": await store[c.GROUP_MUTES].find({"user_id": user_id}, {"_id": 0, "user_id": 0}).to_list(),
        "announcement_replies": await store[c.REPLIES].find({"user_id": user_id}, {"user_id": 0}).sort("_id", 1)
        .to_list(),
        "survey_responses": await _survey_responses(store, user_id),
    }


async def _survey_responses(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The surveys the member answered; with their answers where the survey was not anonymous (an anonymous
    survey's answers are not linked to anyone, so they cannot be given back: only that the member responded)."""
    parts = await store[c.SURVEY_PARTICIPATIONS].find({"user_id": user_id}).sort("_id", 1).to_list()
    ids = [p["response_id"] for p in parts if p.get("response_id")]
    answers = {r["_id"]: r.get("answers") for r in await store[c.SURVEY_RESPONSES].find(
        {"_id": {"$in": ids}}, {"answers": 1}).to_list()} if ids else {}
    return [{"survey_id": p["survey_id"], "anonymous": p.get("anonymous", False),
             "answered_at": p.get("answered_at"), "answers": answers.get(p.get("response_id"))} for p in parts]
