"""Surveys: operators ask a group questions (single or multiple choice, scale, free text), anonymously or not; each
recipient answers once; results are aggregated as the answers come.

- **Sending reuses the announcement path.** `send` creates an announcement of kind `survey` (title, message, a link
  to the survey) and delivers it with `announcements.deliver`: the group is resolved at that moment, batch by
  batch, muted members get nothing (unless the group is required), each recipient gets an inbox item, and the
  `AnnouncementDelivered` batches reach the mail adapter. The recipients are the inbox items: only they can read
  and answer the survey. When delivery is done, `SurveySent` carries the totals. A survey is sent once; an
  interrupted send resumes when sent again (to the same group).
- **One response per member.** A participation record (`survey_participations`, id = survey and member) is
  inserted with the response in one transaction; a second answer finds it (409 `already_answered`), or, with the
  same Idempotency-Key, replays the first answer's receipt.
- **Anonymous surveys store no link.** The participation record says only that the member responded (no time, no
  response id); the response is stored under a random id without member or time; `SurveyAnswered` has no member
  and no actor; the Idempotency-Key record holds the participation, and its fingerprint does not cover the answers.
  Nothing the service stores, exports or publishes ties a member to their answers.
- **Live results without reading responses.** Each response increments counters (a few shards per survey, see
  `domain.surveys`) in the same transaction; the results add up the shards.
"""

import random
import uuid
from datetime import datetime
from typing import Any

from agora_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from agora_common.events.users import SurveyAnswered, SurveySent
from agora_common.idempotency import create_once
from agora_common.ids import new_id, utcnow
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain import surveys as domain
from agora_users.service import announcements, groups

DRAFT, SENDING, OPEN, CLOSED = "draft", "sending", "open", "closed"
LINK = "/api/v1/users/surveys/{id}"


def status(survey: dict, now: datetime | None = None) -> domain.SurveyStatus:
    """The status now: an open survey past its `closes_at` is closed."""
    if survey["status"] == OPEN and survey.get("closes_at") and survey["closes_at"] <= (now or utcnow()):
        return "closed"
    return survey["status"]


def shard_ids(survey: dict) -> list[str]:
    return [f"{survey['_id']}:{i}" for i in range(survey["shards"])]


async def create(*, store: Store, operator_id: str, title: str, description: str | None, anonymous: bool,
                 closes_at: datetime | None, questions: list[dict[str, Any]],
                 idempotency_key: str | None = None) -> tuple[dict, bool]:
    """A draft survey (sent later with `send`). Returns (survey, replayed)."""
    now = utcnow()
    if closes_at is not None and closes_at <= now:
        raise InvalidInput("closes_at must be in the future", code="invalid_closes_at",
                           details=[{"location": ["body", "closes_at"], "message": "must be in the future"}])
    built = domain.build_questions(questions)
    survey = {"_id": new_id(), "title": title, "description": description, "anonymous": anonymous,
              "questions": built, "closes_at": closes_at, "status": DRAFT, "shards": domain.SHARDS,
              "group_id": None, "group_name": None, "announcement_id": None, "sent_by": None, "sent_at": None,
              "recipients": 0, "muted": 0, "closed_at": None, "created_by": operator_id, "created_at": now,
              "updated_at": now, "version": 1}
    tally = domain.empty_tally(built)

    async def work(tx: UnitOfWork) -> str:
        await tx.db[c.SURVEYS].insert_one(survey, session=tx.session)
        await tx.db[c.SURVEY_TALLIES].insert_many(
            [{"_id": shard, "survey_id": survey["_id"], **tally} for shard in shard_ids(survey)], session=tx.session)
        return survey["_id"]

    survey_id, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=operator_id, scope="survey", key=idempotency_key,
        payload={"title": title, "description": description, "anonymous": anonymous, "closes_at": closes_at,
                 "questions": questions}, body=work)
    return (await get(store=store, survey_id=survey_id) if replayed else survey), replayed


async def get(*, store: Store, survey_id: str) -> dict:
    survey = await store[c.SURVEYS].find_one({"_id": survey_id})
    if survey is None:
        raise NotFound(f"survey {survey_id} not found")
    return survey


async def list_page(*, store: Store, status_filter: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict], str | None]:
    """Surveys, newest first (by status now, if asked: an open survey past its closes_at is closed)."""
    now = utcnow()
    query: dict[str, Any] = {}
    if status_filter in (DRAFT, SENDING):
        query = {"status": status_filter}
    elif status_filter == OPEN:
        query = {"status": OPEN, "$or": [{"closes_at": None}, {"closes_at": {"$gt": now}}]}
    elif status_filter == CLOSED:
        query = {"$or": [{"status": CLOSED}, {"status": OPEN, "closes_at": {"$ne": None, "$lte": now}}]}
    return await keyset_page(store[c.SURVEYS], query, listing=f"surveys:{status_filter}", order=[("_id", -1)],
                             limit=limit, cursor=cursor)


async def is_recipient(*, store: Store, survey: dict, user_id: str, session=None) -> bool:
    if not survey.get("announcement_id"):
        return False
    return await store[c.INBOX].find_one({"source_id": survey["announcement_id"], "user_id": user_id}, {"_id": 1},
                                         session=session) is not None


async def get_for_member(*, store: Store, survey_id: str, user_id: str) -> dict:
    """A member reads only a survey sent to them (403 `not_a_recipient` otherwise)."""
    survey = await get(store=store, survey_id=survey_id)
    if not await is_recipient(store=store, survey=survey, user_id=user_id):
        raise Forbidden("this survey was not sent to you", code="not_a_recipient")
    return survey


async def has_answered(*, store: Store, survey_id: str, user_id: str) -> bool:
    return await store[c.SURVEY_PARTICIPATIONS].find_one({"_id": participation_id(survey_id, user_id)},
                                                         {"_id": 1}) is not None


async def answered_among(*, store: Store, survey_ids: list[str], user_id: str) -> set[str]:
    """Which of these surveys the member answered (one query, for a listing)."""
    rows = await store[c.SURVEY_PARTICIPATIONS].find(
        {"_id": {"$in": [participation_id(s, user_id) for s in survey_ids]}}, {"survey_id": 1}).to_list()
    return {r["survey_id"] for r in rows}


def participation_id(survey_id: str, user_id: str) -> str:
    return f"{survey_id}:{user_id}"


# ---- sending ----

def invitation_text(survey: dict, message: str | None) -> str:
    lines = [message or survey.get("description") or "Please answer this survey."]
    n = len(survey["questions"])
    lines.append(f"{n} question{'s' if n != 1 else ''}; "
                 + ("your answers are anonymous." if survey["anonymous"] else "your answers carry your name."))
    if survey.get("closes_at"):
        lines.append(f"Open until {survey['closes_at']:%Y-%m-%d %H:%M} UTC.")
    return "\n\n".join(lines)


async def send(*, store: Store, survey_id: str, group_id: str, operator_id: str, message: str | None,
               idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Deliver the survey to the group's members (an inbox item each, through an announcement) and open it.
    A survey is sent once: 409 `survey_already_sent` after that, unless the request replays the first one (same
    Idempotency-Key). An interrupted send (status sending) resumes when sent again to the same group."""
    group = await groups.get(store=store, group_id=group_id)
    survey = await get(store=store, survey_id=survey_id)
    if survey.get("closes_at") and survey["closes_at"] <= utcnow() and survey["status"] == DRAFT:
        raise Conflict("the survey's closes_at has passed: create a new survey", code="survey_closed")
    announcement = announcements.new_announcement(
        group=group, operator_id=operator_id, title=survey["title"], body=invitation_text(survey, message),
        link=LINK.format(id=survey_id), kind="survey", survey_id=survey_id)

    async def work(tx: UnitOfWork) -> str:
        doc = await tx.db[c.SURVEYS].find_one({"_id": survey_id}, session=tx.session)
        if doc is None:
            raise NotFound(f"survey {survey_id} not found")
        if doc["status"] == SENDING and doc["group_id"] == group_id:
            return survey_id  # resume the interrupted delivery
        if doc["status"] != DRAFT:
            raise Conflict(f"the survey was sent already (to {doc['group_name']!r})", code="survey_already_sent",
                           details={"group_id": doc["group_id"], "status": status(doc)})
        await tx.db[c.ANNOUNCEMENTS].insert_one(announcement, session=tx.session)
        await tx.bump(c.SURVEYS, {"_id": survey_id, "status": DRAFT}, {"$set": {
            "status": SENDING, "group_id": group_id, "group_name": group["name"],
            "announcement_id": announcement["_id"], "sent_by": operator_id, "sent_at": announcement["sent_at"]}},
            events=0)
        return survey_id

    _, replayed = await create_once(
        db=store.db, run=store.transactions.run, user_id=operator_id, scope=f"survey-send:{survey_id}",
        key=idempotency_key, payload={"group_id": group_id, "message": message}, body=work)
    survey = await get(store=store, survey_id=survey_id)
    if survey["status"] == SENDING:
        ann = await announcements.get(store=store, announcement_id=survey["announcement_id"])
        if ann["status"] == announcements.DELIVERING:
            ann = await announcements.deliver(store=store, announcement=ann, group=group)
        survey = await _opened(store, survey_id, ann)
    return survey, replayed


async def _opened(store: Store, survey_id: str, ann: dict) -> dict:
    async def work(tx: UnitOfWork) -> None:
        doc = await tx.bump(c.SURVEYS, {"_id": survey_id, "status": SENDING}, {"$set": {
            "status": OPEN, "recipients": ann["recipients"], "muted": ann["muted"], "opened_at": utcnow()}})
        if doc is None:
            return  # opened by a concurrent retry
        tx.emit(SurveySent(survey_id=survey_id, title=doc["title"], anonymous=doc["anonymous"],
                           questions=len(doc["questions"]), group_id=doc["group_id"], group_name=doc["group_name"],
                           announcement_id=ann["_id"], sent_by=doc["sent_by"], recipients=ann["recipients"],
                           muted=ann["muted"], closes_at=doc.get("closes_at")),
                subject=survey_id, version=doc["version"], actor=doc["sent_by"])

    await store.transactions.run(work)
    return await get(store=store, survey_id=survey_id)


async def close(*, store: Store, survey_id: str) -> dict:
    """Stop taking answers (idempotent). A draft cannot be closed: 409 `survey_not_sent`."""

    async def work(tx: UnitOfWork) -> dict | None:
        doc = await tx.db[c.SURVEYS].find_one({"_id": survey_id}, session=tx.session)
        if doc is None:
            raise NotFound(f"survey {survey_id} not found")
        if doc["status"] in (DRAFT, SENDING):
            raise Conflict("the survey has not been sent yet", code="survey_not_sent")
        if doc["status"] == CLOSED:
            return doc
        now = utcnow()
        closed_at = min(now, doc["closes_at"]) if doc.get("closes_at") else now
        return await tx.bump(c.SURVEYS, {"_id": survey_id}, {"$set": {"status": CLOSED, "closed_at": closed_at}},
                             events=0)

    survey = await store.transactions.run(work)
    assert survey is not None
    return survey


# ---- answering ----

async def answer(*, store: Store, survey_id: str, user_id: str, answers: dict[str, Any],
                 idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Record a recipient's one response. Returns (receipt, replayed): the receipt of an anonymous survey names
    neither the response nor the answers (nothing stored could give them back to the member)."""
    survey = await get(store=store, survey_id=survey_id)
    if survey["status"] in (DRAFT, SENDING) or not await is_recipient(store=store, survey=survey, user_id=user_id):
        raise Forbidden("this survey was not sent to you", code="not_a_recipient")
    if status(survey) != OPEN and not idempotency_key:  # (with a key, a retry of an answer given in time replays)
        raise Conflict("the survey is closed", code="survey_closed")
    clean, problems = domain.check_answers(survey["questions"], answers)
    if problems:
        raise InvalidInput("the answers do not fit the survey: " + "; ".join(p.message for p in problems),
                           code="invalid_answers", details=[p.detail() for p in problems])
    anonymous = survey["anonymous"]
    pid = participation_id(survey_id, user_id)
    now = utcnow()
    response_id = uuid.uuid4().hex if anonymous else new_id()  # random: no time in an anonymous response's id
    participation: dict[str, Any] = {"_id": pid, "survey_id": survey_id, "user_id": user_id, "anonymous": anonymous}
    response: dict[str, Any] = {"_id": response_id, "survey_id": survey_id, "answers": clean}
    if not anonymous:
        participation.update(response_id=response_id, answered_at=now)
        response.update(user_id=user_id, answered_at=now)
    shard = f"{survey_id}:{random.randrange(survey['shards'])}"
    inc = domain.increments(survey["questions"], clean)

    async def work(tx: UnitOfWork) -> str:
        current = await tx.db[c.SURVEYS].find_one({"_id": survey_id}, {"status": 1, "closes_at": 1},
                                                  session=tx.session)
        if current is None or status(current) != OPEN:
            raise Conflict("the survey is closed", code="survey_closed")
        if await tx.db[c.SURVEY_PARTICIPATIONS].find_one({"_id": pid}, {"_id": 1}, session=tx.session) is not None:
            raise Conflict("you answered this survey already (one response per member)", code="already_answered")
        await tx.db[c.SURVEY_PARTICIPATIONS].insert_one(participation, session=tx.session)
        await tx.db[c.SURVEY_RESPONSES].insert_one(response, session=tx.session)
        await tx.db[c.SURVEY_TALLIES].update_one({"_id": shard}, {"$inc": inc}, session=tx.session)
        tx.emit(SurveyAnswered(survey_id=survey_id, group_id=survey["group_id"], anonymous=anonymous,
                               user_id=None if anonymous else user_id),
                subject=response_id, version=1, actor=None if anonymous else user_id)
        return pid

    # an anonymous survey's key record must not fingerprint the answers (a few choices are easy to enumerate)
    payload = {"survey_id": survey_id} if anonymous else {"survey_id": survey_id, "answers": clean}
    try:
        _, replayed = await create_once(db=store.db, run=store.transactions.run, user_id=user_id,
                                        scope=f"survey-answer:{survey_id}", key=idempotency_key, payload=payload,
                                        body=work)
    except DuplicateKeyError as exc:  # a concurrent answer by the same member won
        raise Conflict("you answered this survey already (one response per member)",
                       code="already_answered") from exc
    return await receipt(store=store, survey=survey, user_id=user_id), replayed


async def receipt(*, store: Store, survey: dict, user_id: str) -> dict:
    part = await store[c.SURVEY_PARTICIPATIONS].find_one({"_id": participation_id(survey["_id"], user_id)})
    if part is None:
        raise NotFound("no response of yours to this survey")
    out: dict[str, Any] = {"survey_id": survey["_id"], "anonymous": survey["anonymous"], "response_id": None,
                           "answers": None, "answered_at": None}
    if not survey["anonymous"] and part.get("response_id"):
        response = await store[c.SURVEY_RESPONSES].find_one({"_id": part["response_id"]}) or {}
        out.update(response_id=part["response_id"], answers=response.get("answers"),
                   answered_at=part.get("answered_at"))
    return out


# ---- results ----

async def results(*, store: Store, survey_id: str) -> dict:
    """The live results: the survey's counter shards added up (never a scan of the responses), with the response
    rate against the members the survey reached."""
    survey = await get(store=store, survey_id=survey_id)
    shards = await store[c.SURVEY_TALLIES].find({"_id": {"$in": shard_ids(survey)}}).to_list()
    figures = domain.results(survey["questions"], shards)
    recipients = survey["recipients"]
    if survey["status"] == SENDING and survey.get("announcement_id"):  # still delivering: as far as it got
        ann = await store[c.ANNOUNCEMENTS].find_one({"_id": survey["announcement_id"]}, {"recipients": 1})
        recipients = (ann or {}).get("recipients", 0)
    return {"survey_id": survey_id, "title": survey["title"], "status": status(survey),
            "anonymous": survey["anonymous"], "group_id": survey.get("group_id"),
            "group_name": survey.get("group_name"), "recipients": recipients, "responses": figures["responses"],
            "response_rate": round(figures["responses"] / recipients, 4) if recipients else None,
            "questions": figures["questions"], "computed_at": utcnow()}


async def free_text_rows(*, store: Store, survey_id: str, chunk: int = 1000) -> tuple[dict, list[dict]]:
    """Every free-text answer, one row each, for the CSV export: with the member's id, name and time in a
    survey that is not anonymous; in an anonymous one only a respondent number (responses in the order of their
    random ids, which says nothing about when or who)."""
    survey = await get(store=store, survey_id=survey_id)
    texts = [q for q in survey["questions"] if q["kind"] == "free_text"]
    projection = {f"answers.{q['id']}": 1 for q in texts} | {"user_id": 1, "answered_at": 1}
    rows: list[dict] = []
    respondent = 0
    cursor = None
    while texts:
        page, cursor = await keyset_page(store[c.SURVEY_RESPONSES], {"survey_id": survey_id},
                                         listing=f"survey-responses:{survey_id}", order=[("_id", 1)], limit=chunk,
                                         cursor=cursor, projection=projection)
        names = {} if survey["anonymous"] else {u["_id"]: u.get("display_name") for u in await store[c.USERS].find(
            {"_id": {"$in": list({r.get("user_id") for r in page})}}, {"display_name": 1}).to_list()}
        for response in page:
            answered = [(q, response.get("answers", {}).get(q["id"])) for q in texts]
            answered = [(q, a) for q, a in answered if a]
            if not answered:
                continue
            respondent += 1
            for q, text in answered:
                row = {"respondent": respondent, "question_id": q["id"], "question": q["text"], "answer": text}
                if not survey["anonymous"]:
                    row.update(response_id=response["_id"], user_id=response.get("user_id"),
                               display_name=names.get(response.get("user_id")),
                               answered_at=response.get("answered_at"))
                rows.append(row)
        if cursor is None:
            break
    return survey, rows


# ---- account deletion (called by accounts.delete_account, inside its transaction) ----

async def erase_member(tx: UnitOfWork, user_id: str) -> None:
    """A deleted member's survey data: every participation goes (that they responded), and in surveys that were
    not anonymous their response too (the answers and the link to them). Their choices and scale answers stay in
    the aggregate counts (anonymous figures); their free-text answers are erased, so they leave the counts. Responses
    to anonymous surveys were never linked to the member: they stay, unfindable by design."""
    parts = await tx.db[c.SURVEY_PARTICIPATIONS].find({"user_id": user_id}, session=tx.session).to_list()
    linked = [p for p in parts if p.get("response_id")]
    if linked:
        responses = {r["_id"]: r for r in await tx.db[c.SURVEY_RESPONSES].find(
            {"_id": {"$in": [p["response_id"] for p in linked]}}, session=tx.session).to_list()}
        surveys = {s["_id"]: s for s in await tx.db[c.SURVEYS].find(
            {"_id": {"$in": list({p["survey_id"] for p in linked})}}, {"questions": 1, "shards": 1},
            session=tx.session).to_list()}
        for p in linked:
            response, survey = responses.get(p["response_id"]), surveys.get(p["survey_id"])
            if response is None or survey is None:
                continue
            inc = domain.free_text_increments(survey["questions"], response.get("answers", {}))
            if inc:
                await tx.db[c.SURVEY_TALLIES].update_one({"_id": shard_ids(survey)[0]}, {"$inc": inc},
                                                         session=tx.session)
        await tx.db[c.SURVEY_RESPONSES].delete_many({"_id": {"$in": [p["response_id"] for p in linked]}},
                                                    session=tx.session)
    await tx.db[c.SURVEY_PARTICIPATIONS].delete_many({"user_id": user_id}, session=tx.session)
