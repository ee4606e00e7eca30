"""Registration, login, token refresh with rotation, roles, the bootstrap operator and account deletion."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from agora_common.auth import decode_token, issue_token
from agora_common.errors import AgoraError, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from agora_common.events.users import RoleChanged, UserDeleted, UserRegistered
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import metrics
from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.config import Settings
from agora_users.domain.passwords import password_problems
from agora_users.domain.users import DELETED_DISPLAY_NAME, email_key, is_suspended, normalize_roles

log = logging.getLogger(__name__)


class TooManyAttempts(AgoraError):
    status_code = 429
    code = "too_many_attempts"


@dataclass
class Session:
    user: dict
    access_token: str
    refresh_token: str
    expires_at: datetime


def check_password(store: Store, password: str, *, email: str | None = None, display_name: str | None = None) -> None:
    s = store.settings
    problems = password_problems(
        password, min_length=s.password_min_length, max_length=s.password_max_length, email=email,
        display_name=display_name,
    )
    if problems:
        raise InvalidInput(
            "password is too weak: " + "; ".join(problems), code="weak_password",
            details=[{"location": ["body", "password"], "message": p} for p in problems],
        )


async def _issue(settings: Settings, tx: UnitOfWork, user: dict, *, family: str | None = None) -> Session:
    access, expires = issue_token(settings, user_id=user["_id"], roles=user["roles"], kind="access",
                                  name=user["display_name"])
    refresh, refresh_expires = issue_token(settings, user_id=user["_id"], roles=user["roles"], kind="refresh")
    jti = jwt.decode(refresh, options={"verify_signature": False})["jti"]
    await tx.db[c.REFRESH_TOKENS].insert_one(
        {"_id": jti, "user_id": user["_id"], "family": family or jti, "expires_at": refresh_expires,
         "used_at": None, "revoked": False, "created_at": utcnow()},
        session=tx.session,
    )
    return Session(user=user, access_token=access, refresh_token=refresh, expires_at=expires)


async def register(*, store: Store, email: str, password: str, display_name: str,
                   roles: list[str] | None = None) -> Session:
    check_password(store, password, email=email, display_name=display_name)
    password_hash = await store.hasher.hash(password)
    now = utcnow()
    user = {
        "_id": new_id(), "email": email, "email_key": email_key(email), "password_hash": password_hash,
        "display_name": display_name, "bio": None, "company": None, "industry": None, "city": None, "skills": [],
        "roles": normalize_roles(roles or ["member"]), "status": "active", "suspension": None, "titles": [],
        "version": 1, "created_at": now, "updated_at": now,
    }

    async def work(tx: UnitOfWork) -> Session:
        await tx.db[c.USERS].insert_one(user, session=tx.session)
        tx.emit(UserRegistered(user_id=user["_id"], display_name=display_name, roles=user["roles"],
                               registered_at=now), subject=user["_id"], version=1, actor=user["_id"])
        return await _issue(store.settings, tx, user)

    try:
        return await store.transactions.run(work)
    except DuplicateKeyError as exc:
        raise Conflict("an account with this email already exists", code="email_taken") from exc


def _ensure_may_sign_in(user: dict) -> None:
    if user.get("status") == "deleted":
        raise Unauthorized("this account was deleted", code="account_deleted")
    if is_suspended(user, utcnow()):
        until = (user.get("suspension") or {}).get("until")
        raise Forbidden(
            "this account is suspended" + (f" until {until.isoformat()}" if until else ""),
            code="account_suspended", details={"until": until.isoformat() if until else None},
        )


async def login(*, store: Store, email: str, password: str, client: str = "unknown") -> Session:
    """Sign in. Failed attempts are counted per account *and client* (the caller's address): whoever guesses a
    member's password from one address slows down only themselves there, and cannot lock the member out; the
    gateway's per-client rate limit covers guessing many accounts from one address."""
    key = email_key(email)
    lock_id = f"{key}|{client}"
    now = utcnow()
    lock = await store[c.LOGIN_FAILURES].find_one({"_id": lock_id})
    if lock and lock.get("locked_until") and lock["locked_until"] > now:
        wait = int((lock["locked_until"] - now).total_seconds()) + 1
        metrics.LOGINS.labels("locked").inc()
        raise TooManyAttempts(f"too many failed sign-ins for this email from here; try again in {wait} s",
                              details={"retry_after_seconds": wait})
    user = await store[c.USERS].find_one({"email_key": key})
    ok = await store.hasher.verify(user.get("password_hash") if user else None, password)
    if not user or not ok:
        await _record_failure(store, lock_id, now)
        metrics.LOGINS.labels("invalid_credentials").inc()
        raise Unauthorized("invalid email or password", code="invalid_credentials")
    if lock:
        await store[c.LOGIN_FAILURES].delete_one({"_id": lock_id})
    try:
        _ensure_may_sign_in(user)
    except AgoraError:
        metrics.LOGINS.labels("refused").inc()
        raise
    if store.hasher.needs_rehash(user["password_hash"]):
        new_hash = await store.hasher.hash(password)
        await store[c.USERS].update_one({"_id": user["_id"]}, {"$set": {"password_hash": new_hash}})

    async def work(tx: UnitOfWork) -> Session:
        return await _issue(store.settings, tx, user)

    session = await store.transactions.run(work)
    metrics.LOGINS.labels("ok").inc()
    return session


async def _record_failure(store: Store, key: str, now: datetime) -> None:
    """Count failures per (email, client) in a window; at the limit, lock that pair for a while, twice as long at
    each lock in a row (exponential back-off, up to login_lockout_seconds)."""
    s = store.settings
    failures = store[c.LOGIN_FAILURES]
    doc = await failures.find_one_and_update(
        {"_id": key}, {"$inc": {"count": 1}, "$setOnInsert": {"first_at": now, "strikes": 0}}, upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    if doc["first_at"] < now - timedelta(seconds=s.login_failure_window_seconds):
        await failures.update_one({"_id": key}, {"$set": {"count": 1, "first_at": now, "locked_until": None,
                                                          "strikes": 0}})
    elif doc["count"] >= s.login_max_failures:
        strikes = doc.get("strikes", 0)
        seconds = min(s.login_lockout_base_seconds * 2 ** strikes, s.login_lockout_seconds)
        log.warning("sign-in locked after repeated failures", extra={"seconds": seconds, "strikes": strikes + 1})
        await failures.update_one({"_id": key}, {"$set": {
            "count": 0, "first_at": now, "locked_until": now + timedelta(seconds=seconds), "strikes": strikes + 1}})


async def refresh(*, store: Store, refresh_token: str) -> Session:
    """Rotate: the presented token is spent and a new pair issued. Presenting a spent token again means it
    leaked (or a client replayed it): the whole token family is revoked and the caller must log in again."""
    claims = decode_token(store.settings, refresh_token, kind="refresh")
    jti = claims.get("jti")
    if not jti:
        raise Unauthorized("invalid refresh token", code="invalid_token")
    now = utcnow()

    async def work(tx: UnitOfWork) -> Session:
        tokens = tx.db[c.REFRESH_TOKENS]
        stored = await tokens.find_one({"_id": jti}, session=tx.session)
        if stored is None or stored["revoked"]:
            raise Unauthorized("refresh token revoked", code="invalid_token")
        if stored["used_at"] is not None:
            raise _Reused(stored["family"])
        await tokens.update_one({"_id": jti}, {"$set": {"used_at": now}}, session=tx.session)
        user = await tx.db[c.USERS].find_one({"_id": stored["user_id"]}, session=tx.session)
        if user is None:
            raise Unauthorized("account not found", code="invalid_token")
        _ensure_may_sign_in(user)
        return await _issue(store.settings, tx, user, family=stored["family"])

    try:
        session = await store.transactions.run(work)
    except _Reused as reused:
        metrics.REFRESHES.labels("reused").inc()
        await store[c.REFRESH_TOKENS].update_many({"family": reused.family}, {"$set": {"revoked": True}})
        log.warning("refresh token reused; token family revoked", extra={"user_id": claims.get("sub")})
        raise Unauthorized("refresh token already used; sign in again", code="refresh_token_reused") from None
    metrics.REFRESHES.labels("ok").inc()
    return session


class _Reused(Exception):
    def __init__(self, family: str) -> None:
        self.family = family


async def logout(*, store: Store, refresh_token: str) -> None:
    """Revoke the refresh token's family (this device's session). Access tokens expire on their own."""
    claims = decode_token(store.settings, refresh_token, kind="refresh")
    stored = await store[c.REFRESH_TOKENS].find_one({"_id": claims.get("jti")})
    if stored:
        await store[c.REFRESH_TOKENS].update_many({"family": stored["family"]}, {"$set": {"revoked": True}})


async def change_password(*, store: Store, user_id: str, current_password: str, new_password: str) -> Session:
    """Needs the current password; every other session (refresh token) is revoked, a fresh pair returned."""
    user = await store[c.USERS].find_one({"_id": user_id, "status": {"$ne": "deleted"}})
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if not await store.hasher.verify(user.get("password_hash"), current_password):
        raise Forbidden("the current password is wrong", code="wrong_password")
    check_password(store, new_password, email=user["email"], display_name=user["display_name"])
    new_hash = await store.hasher.hash(new_password)

    async def work(tx: UnitOfWork) -> Session:
        await tx.db[c.USERS].update_one({"_id": user_id}, {"$set": {"password_hash": new_hash,
                                                                      "updated_at": utcnow()}}, session=tx.session)
        await tx.db[c.REFRESH_TOKENS].update_many({"user_id": user_id}, {"$set": {"revoked": True}},
                                                     session=tx.session)
        return await _issue(store.settings, tx, user)

    return await store.transactions.run(work)


async def set_roles(*, store: Store, user_id: str, roles: list[str], operator_id: str) -> dict:
    try:
        wanted = normalize_roles(roles)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="unknown_role") from exc
    if user_id == operator_id and "operator" not in wanted:
        raise Forbidden("operators cannot remove their own operator role", code="self_demotion")

    async def work(tx: UnitOfWork) -> dict:
        user = await tx.bump(c.USERS, {"_id": user_id, "status": {"$ne": "deleted"}}, {"$set": {"roles": wanted}})
        if user is None:
            raise NotFound(f"user {user_id} not found")
        tx.emit(RoleChanged(user_id=user_id, roles=wanted, changed_by=operator_id), subject=user_id,
                version=user["version"], actor=operator_id)
        # existing sessions keep the old roles until their access token expires; refresh picks up the new ones
        return user

    return await store.transactions.run(work)


async def ensure_bootstrap_operator(store: Store) -> None:
    s = store.settings
    if not s.bootstrap_operator_email or not s.bootstrap_operator_password:
        return
    if await store[c.USERS].find_one({"email_key": email_key(s.bootstrap_operator_email)}, {"_id": 1}):
        return
    try:
        await register(store=store, email=s.bootstrap_operator_email,
                       password=s.bootstrap_operator_password.get_secret_value(),
                       display_name=s.bootstrap_operator_name, roles=["member", "moderator", "operator"])
        log.info("bootstrap operator created", extra={"email": s.bootstrap_operator_email})
    except Conflict:
        pass  # another instance created it at the same moment


async def delete_account(*, store: Store, user_id: str) -> None:
    """Erase personal data and memberships; keep a tombstone so the id is never reused. Content stays and is
    anonymised by the content service when it sees UserDeleted."""
    now = utcnow()

    async def work(tx: UnitOfWork) -> None:
        user = await tx.bump(
            c.USERS, {"_id": user_id, "status": {"$ne": "deleted"}},
            {"$set": {"status": "deleted", "deleted_at": now, "display_name": DELETED_DISPLAY_NAME, "bio": None,
                      "company": None, "industry": None, "city": None, "skills": [], "titles": [],
                      "suspension": None, "email": None},
             "$unset": {"email_key": "", "password_hash": ""}},
        )
        if user is None:
            raise NotFound(f"user {user_id} not found")
        memberships = await tx.db[c.SIG_MEMBERS].find({"user_id": user_id}, session=tx.session).to_list()
        for m in memberships:
            await tx.db[c.SIGS].update_one(
                {"_id": m["sig_id"]}, {"$inc": {"member_count": -1}, "$pull": {"leads": user_id}}, session=tx.session
            )
        await tx.db[c.SIG_MEMBERS].delete_many({"user_id": user_id}, session=tx.session)
        await tx.db[c.FOLLOWS].delete_many(
            {"$or": [{"follower_id": user_id}, {"kind": "user", "target": user_id}]}, session=tx.session
        )
        await tx.db[c.REFRESH_TOKENS].update_many({"user_id": user_id}, {"$set": {"revoked": True}},
                                                     session=tx.session)
        await tx.db[c.ACTIVITY].delete_one({"_id": user_id}, session=tx.session)
        await tx.db[c.ACTIVITY_DAYS].delete_many({"user_id": user_id}, session=tx.session)
        tx.emit(UserDeleted(user_id=user_id), subject=user_id, version=user["version"], actor=user_id)

    await store.transactions.run(work)
