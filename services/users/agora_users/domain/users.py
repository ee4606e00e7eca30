"""Account rules: email keys, roles and who may moderate whom. Pure functions, no I/O."""

from datetime import datetime

from agora_common.auth import ROLES

RANK = {"member": 0, "moderator": 1, "operator": 2}
DELETED_DISPLAY_NAME = "Deleted user"


def email_key(email: str) -> str:
    """Emails are unique regardless of case (the whole address: real providers ignore case)."""
    return email.strip().casefold()


def normalize_roles(roles: list[str]) -> list[str]:
    """Every account is a member; keep the canonical order and drop duplicates."""
    wanted = set(roles) | {"member"}
    unknown = wanted - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    return [r for r in ROLES if r in wanted]


def top_rank(roles: list[str]) -> int:
    return max((RANK.get(r, -1) for r in roles), default=-1)


def may_suspend(actor_roles: list[str], target_roles: list[str]) -> bool:
    """A moderator suspends members; an operator also moderators; nobody suspends an operator."""
    return top_rank(actor_roles) >= 1 and top_rank(target_roles) < top_rank(actor_roles)


def is_suspended(user: dict, now: datetime) -> bool:
    if user.get("status") != "suspended":
        return False
    until = (user.get("suspension") or {}).get("until")
    return until is None or until > now


def normalize_tag(tag: str) -> str:
    return tag.strip().casefold()
