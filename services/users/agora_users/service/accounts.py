"""Registration (without account enumeration), login (with brute-force throttling that cannot lock a member out),
token refresh with rotation, roles, the bootstrap operator and account deletion."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import jwt
from agora_common import idempotency
from agora_common.auth import decode_token, issue_token
from agora_common.errors import AgoraError, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from agora_common.events.users import RoleChanged, UserDeleted, UserRegistered
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import metrics
from agora_users.adapters import store as c
from agora_users.adapters.human_check import HumanCheckUnavailable
from agora_users.adapters.store import Store
from agora_users.config import Settings
from agora_users.domain.passwords import password_problems
from agora_users.domain.users import DELETED_DISPLAY_NAME, email_key, is_suspended, normalize_roles
from agora_users.service import surveys

log = logging.getLogger(__name__)


class TooManyAttempts(AgoraError):
    status_code = 429
    code = "too_many_attempts"


class HumanCheckRefused(AgoraError):
    """403 `human_check_required` (no token sent) or `human_check_failed` (the verifier said no)."""

    status_code = 403
    code = "human_check_failed"


class HumanCheckUnreachable(AgoraError):
    status_code = 503
    code = "unavailable"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "5"}


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


async def require_human(store: Store, token: str | None, client: str, *, why: str) -> None:
    """Ask the human check (the CAPTCHA port) about `token`; raise the 403 (or 503) the client must act on."""
    try:
        ok = await store.human_check.verify(token, client)
    except HumanCheckUnavailable as exc:
        log.warning("human check unavailable", extra={"error": str(exc)[:300]})
        raise HumanCheckUnreachable("the human check cannot be verified right now; try again shortly") from exc
    if ok:
        return
    details = {"site_key": store.settings.human_check_site_key, "reason": why}
    if not token:
        raise HumanCheckRefused(f"{why}: solve the human check and send its token as human_check_token",
                                code="human_check_required", details=details)
    raise HumanCheckRefused("the human check token was not accepted; solve it again", details=details)


def _new_user(*, email: str, password_hash: str, display_name: str, roles: list[str] | None) -> dict:
    now = utcnow()
    return {
        "_id": new_id(), "email": email, "email_key": email_key(email), "password_hash": password_hash,
        "display_name": display_name, "bio": None, "company": None, "industry": None, "city": None, "skills": [],
        "roles": normalize_roles(roles or ["member"]), "status": "active", "suspension": None, "titles": [],
        "version": 1, "created_at": now, "updated_at": now,
    }


async def _insert_user(store: Store, user: dict) -> None:
    """Create the account and announce it; Conflict `email_taken` if the email has one (case-insensitive)."""

    async def work(tx: UnitOfWork) -> None:
        await tx.db[c.USERS].insert_one(user, session=tx.session)
        tx.emit(UserRegistered(user_id=user["_id"], display_name=user["display_name"], roles=user["roles"],
                               registered_at=user["created_at"]), subject=user["_id"], version=1, actor=user["_id"])

    try:
        await store.transactions.run(work)
    except DuplicateKeyError as exc:
        raise Conflict("an account with this email already exists", code="email_taken") from exc


async def create_account(*, store: Store, email: str, password: str, display_name: str,
                         roles: list[str] | None = None) -> dict:
    """Create an account directly (the bootstrap operator; tests): Conflict `email_taken` when it exists. The
    public registration is `register`, which never tells."""
    check_password(store, password, email=email, display_name=display_name)
    user = _new_user(email=email, password_hash=await store.hasher.hash(password), display_name=display_name,
                     roles=roles)
    await _insert_user(store, user)
    return user


async def register(*, store: Store, email: str, password: str, display_name: str, client: str = "unknown",
                   human_token: str | None = None) -> None:
    """Public registration. It answers the same whether or not the email already has an account (OWASP: no account
    enumeration): the same checks in the same order, one password hash either way, then an insert the unique
    email index refuses for an existing account. That account is left untouched and its owner notified instead;
    the caller signs in next (a new account works at once)."""
    check_password(store, password, email=email, display_name=display_name)
    await require_human(store, human_token, client, why="registration needs the human check")
    user = _new_user(email=email, password_hash=await store.hasher.hash(password), display_name=display_name,
                     roles=None)
    try:
        await _insert_user(store, user)
    except Conflict:
        existing = await store[c.USERS].find_one({"email_key": user["email_key"]}, {"_id": 1})
        if existing is not None:  # None: deleted between the insert and this read; nobody to tell
            await store.notices.registration_attempted(user_id=existing["_id"], client=client)
        metrics.REGISTRATIONS.labels("existing").inc()
        return
    metrics.REGISTRATIONS.labels("created").inc()


def _ensure_may_sign_in(user: dict) -> None:
    if user.get("status") == "deleted":
        raise Unauthorized("this account was deleted", code="account_deleted")
    if is_suspended(user, utcnow()):
        until = (user.get("suspension") or {}).get("until")
        raise Forbidden(
            "this account is suspended" + (f" until {until.isoformat()}" if until else ""),
            code="account_suspended", details={"until": until.isoformat() if until else None},
        )


@dataclass
class _Throttle:
    """What the failure counters say about one sign-in attempt (see Settings: brute-force protection)."""

    locked_until: datetime | None = None
    pair_failures: int = 0  # this email from this client, in the window
    pair_locked_before: bool = False  # locked recently (strikes not yet forgotten)
    account_failures: int = 0  # this email from every client
    client_failures: int = 0  # this client over every email

    def needs_human_check(self, s: Settings) -> bool:
        return (self.pair_failures >= s.login_human_check_after_failures or self.pair_locked_before
                or self.account_failures >= s.login_human_check_account_failures
                or self.client_failures >= s.login_human_check_client_failures)


def _failure_ids(key: str, client: str) -> tuple[str, str, str]:
    """Counter ids in LOGIN_FAILURES: per (email, client) (the only one that locks), per email, per client."""
    return f"pair:{key}|{client}", f"account:{key}", f"client:{client}"


async def _throttle(store: Store, key: str, client: str, now: datetime) -> _Throttle:
    pair_id, account_id, client_id = _failure_ids(key, client)
    docs = {d["_id"]: d for d in await store[c.LOGIN_FAILURES].find(
        {"_id": {"$in": [pair_id, account_id, client_id]}}).to_list()}
    fresh_since = now - timedelta(seconds=store.settings.login_failure_window_seconds)

    def count(doc: dict | None) -> int:
        return doc["count"] if doc and doc["first_at"] >= fresh_since else 0

    pair = docs.get(pair_id)
    state = _Throttle(pair_failures=count(pair), account_failures=count(docs.get(account_id)),
                      client_failures=count(docs.get(client_id)))
    if pair:
        if pair.get("locked_until") and pair["locked_until"] > now:
            state.locked_until = pair["locked_until"]
        state.pair_locked_before = pair.get("strikes", 0) > 0 and pair["first_at"] >= fresh_since
    return state


async def login(*, store: Store, email: str, password: str, client: str = "unknown",
                human_token: str | None = None) -> Session:
    """Sign in. Failed attempts are counted per (email, client address), per email and per client (see
    `_record_failure`). Only the (email, client) pair is ever locked: whoever guesses a member's password from one
    address slows down only themselves there, and cannot lock the member out. Guessing one email from many
    addresses, or many emails from one, makes sign-in ask for the human check instead of locking anyone out; the
    gateway's per-client rate limit caps the pace too. Unknown emails are counted and answered like known ones."""
    key = email_key(email)
    now = utcnow()
    state = await _throttle(store, key, client, now)
    if state.locked_until is not None:
        wait = int((state.locked_until - now).total_seconds()) + 1
        metrics.LOGINS.labels("locked").inc()
        raise TooManyAttempts(f"too many failed sign-ins for this email from here; try again in {wait} s",
                              details={"retry_after_seconds": wait}, headers={"Retry-After": str(wait)})
    if state.needs_human_check(store.settings):
        try:
            await require_human(store, human_token, client,
                                why="after failed sign-ins, signing in needs the human check")
        except HumanCheckRefused:
            metrics.LOGINS.labels("human_check").inc()
            raise
    user = await store[c.USERS].find_one({"email_key": key})
    ok = await store.hasher.verify(user.get("password_hash") if user else None, password)
    if not user or not ok:
        await _record_failure(store, key, client, now)
        metrics.LOGINS.labels("invalid_credentials").inc()
        raise Unauthorized("invalid email or password", code="invalid_credentials")
    if state.pair_failures or state.pair_locked_before:
        await store[c.LOGIN_FAILURES].delete_one({"_id": _failure_ids(key, client)[0]})  # this client knows it
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


async def _record_failure(store: Store, key: str, client: str, now: datetime) -> None:
    """Count a failure on the three counters. The (email, client) pair locks at login_max_failures: for
    login_lockout_base_seconds, twice as long at each lock in a row (exponential back-off, up to
    login_lockout_seconds); its count restarts when the lock ends, and its strikes are forgotten after a window
    without failures. The per-email and per-client counts never lock, they only make sign-in ask for the human
    check (a success does not reset them: one right guess must not buy a guesser more tries)."""
    s = store.settings
    window = timedelta(seconds=s.login_failure_window_seconds)
    pair_id, account_id, client_id = _failure_ids(key, client)
    await asyncio.gather(_count(store, account_id, now, window), _count(store, client_id, now, window))
    doc = await _count(store, pair_id, now, window)
    if doc["count"] >= s.login_max_failures:
        strikes = doc.get("strikes", 0)
        seconds = min(s.login_lockout_base_seconds * 2 ** strikes, s.login_lockout_seconds)
        until = now + timedelta(seconds=seconds)
        log.warning("sign-in locked after repeated failures", extra={"seconds": seconds, "strikes": strikes + 1})
        await store[c.LOGIN_FAILURES].update_one({"_id": pair_id}, {"$set": {
            "count": 0, "first_at": until, "locked_until": until, "strikes": strikes + 1,
            "expires_at": until + window}})


async def _count(store: Store, counter_id: str, now: datetime, window: timedelta) -> dict:
    """One more failure on a counter within its window (a stale counter starts again at 1, strikes forgotten)."""
    failures = store[c.LOGIN_FAILURES]
    doc = await failures.find_one_and_update(
        {"_id": counter_id}, {"$inc": {"count": 1}, "$setOnInsert": {"first_at": now, "strikes": 0,
                                                                      "expires_at": now + window}},
        upsert=True, return_document=ReturnDocument.AFTER,
    )
    if doc["first_at"] < now - window:
        doc = {**doc, "count": 1, "first_at": now, "locked_until": None, "strikes": 0, "expires_at": now + window}
        await failures.update_one({"_id": counter_id}, {"$set": {
            k: doc[k] for k in ("count", "first_at", "locked_until", "strikes", "expires_at")}})
    return doc


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
        await create_account(store=store, email=s.bootstrap_operator_email,
                             password=s.bootstrap_operator_password.get_secret_value(),
                             display_name=s.bootstrap_operator_name, roles=["member", "moderator", "operator"])
        log.info("bootstrap operator created", extra={"email": s.bootstrap_operator_email})
    except Conflict:
        pass  # another instance created it at the same moment


async def _erase_communications(tx: UnitOfWork, user_id: str) -> None:
    """The deleted member's part of groups, announcements and surveys (right to erasure, GDPR art. 17):
    - erased: their inbox (announcements, survey and answer invitations, read or not), their group mutes, the record
      of what was mailed to them, their replies to announcements (private free text to the operators: unlike
      posts, nothing public depends on it, and text can identify its author however it is relabelled), and their
      Idempotency-Key records;
    - surveys (`surveys.erase_member`): the record that they responded goes; in a survey that was not anonymous
      their response goes too (answers and link), its choices and scale answers staying in the aggregate counts
      only (anonymous figures) and its free-text answers leaving them. Anonymous responses were never linked to
      them and stay as they are.
    Announcements, groups and results keep their totals (recipients, muted, responses): counts, not people."""
    await tx.db[c.INBOX].delete_many({"user_id": user_id}, session=tx.session)
    await tx.db[c.GROUP_MUTES].delete_many({"user_id": user_id}, session=tx.session)
    await tx.db[c.MAIL_DELIVERIES].delete_many({"user_id": user_id}, session=tx.session)
    await tx.db[c.REPLIES].delete_many({"user_id": user_id}, session=tx.session)
    await surveys.erase_member(tx, user_id)
    # keys are "<user id>:<scope>:<key>" (kept 24 h anyway): one range of the _id index
    await tx.db[idempotency.COLLECTION].delete_many({"_id": {"$gte": f"{user_id}:", "$lt": f"{user_id};"}},
                                                    session=tx.session)


async def delete_account(*, store: Store, user_id: str) -> None:
    """Erase personal data and memberships; keep a tombstone so the id is never reused. Content stays and is
    anonymised by the content service when it sees UserDeleted. What the member received and said to operators
    goes too (`_erase_communications`)."""
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
        await _erase_communications(tx, user_id)
        tx.emit(UserDeleted(user_id=user_id), subject=user_id, version=user["version"], actor=user_id)

    await store.transactions.run(work)
