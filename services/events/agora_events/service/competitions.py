"""Competitions: submissions by attendees, scores by judges, one final ranking."""

from datetime import UTC, datetime

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, NotFound
from agora_common.events.community import CompetitionRanked, Placing, SubmissionReceived, SubmissionScored
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.standing import ensure_in_good_standing
from agora_common.uow import UnitOfWork
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from agora_events.adapters.mongo import EVENTS, REGISTRATIONS, SCORES, SUBMISSIONS
from agora_events.domain.lifecycle import Status
from agora_events.domain.ranking import Entry, rank
from agora_events.service.context import Ctx, change_event, is_manager, load_event, ref, require_manager
from agora_events.service.events import require_kind

SUBMISSIONS_OPEN = (Status.REGISTRATION_OPEN.value, Status.REGISTRATION_CLOSED.value, Status.LIVE.value)
SCORING_OPEN = (Status.REGISTRATION_CLOSED.value, Status.LIVE.value, Status.ENDED.value)


def _is_judge(event: dict, user: Principal) -> bool:
    return user.id in event.get("judges", []) or user.has("operator")


async def submit(*, ctx: Ctx, event_id: str, submission: dict, user: Principal,
                 idempotency_key: str | None = None) -> tuple[dict, bool]:
    """One entry per participant. With an Idempotency-Key, a retry answers with the entry the first request made
    instead of 409 `already_submitted`. Returns (submission, replayed)."""
    fresh: dict | None = None

    async def work(uow: UnitOfWork) -> str:
        nonlocal fresh
        await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        require_kind(event, "competition")
        if event["status"] not in SUBMISSIONS_OPEN:
            raise Conflict(f"submissions are closed: the competition is {event['status']}", code="submissions_closed")
        now = datetime.now(UTC)
        deadline = event.get("submission_deadline")
        if deadline and now > deadline:
            raise Conflict(f"the submission deadline ({deadline.isoformat()}) has passed", code="submissions_closed")
        reg = await ctx.db[REGISTRATIONS].find_one(
            {"event_id": event_id, "user_id": user.id, "status": "confirmed"}, session=uow.session
        )
        if reg is None:
            raise Forbidden("only participants with a confirmed registration can submit")
        doc = {"_id": new_id(), "event_id": event_id, "user_id": user.id, **submission, "created_at": now}
        try:
            await ctx.db[SUBMISSIONS].insert_one(doc, session=uow.session)
        except DuplicateKeyError as exc:
            raise Conflict("you have already submitted to this competition", code="already_submitted") from exc
        after = await uow.bump(EVENTS, {"_id": event_id}, {}, events=1)
        uow.emit_bumped(after, [SubmissionReceived(**ref(after), submission_id=doc["_id"],
                                                            user_id=user.id)], actor=user.id)
        fresh = doc
        return doc["_id"]

    submission_id, replayed = await create_once(
        db=ctx.db, run=lambda body: change_event(ctx, event_id, body), user_id=user.id,
        scope=f"submission:{event_id}", key=idempotency_key, payload=submission, body=work)
    if fresh is not None and not replayed:
        return fresh, False
    doc = await ctx.db[SUBMISSIONS].find_one({"_id": submission_id})
    if doc is None:
        raise NotFound(f"submission {submission_id} not found")
    return doc, replayed


async def list_submissions(*, ctx: Ctx, event_id: str, user: Principal) -> list[dict]:
    event = await load_event(ctx, event_id, user=user)
    require_kind(event, "competition")
    if not (is_manager(event, user) or _is_judge(event, user)):
        raise Forbidden("only judges and organisers can see all submissions")
    subs = await ctx.db[SUBMISSIONS].find({"event_id": event_id}).sort("_id", ASCENDING).to_list()
    scores = await ctx.db[SCORES].find({"event_id": event_id}).to_list()
    by_sub: dict[str, list[dict]] = {}
    for s in scores:
        by_sub.setdefault(s["submission_id"], []).append(
            {"judge_id": s["judge_id"], "score": s["score"], "comment": s.get("comment")})
    return [{**s, "scores": by_sub.get(s["_id"], [])} for s in subs]


async def score(*, ctx: Ctx, event_id: str, submission_id: str, value: float, comment: str | None,
                user: Principal) -> dict:
    """A judge scores a submission 0..100; scoring it again replaces the judge's earlier score."""

    async def work(uow: UnitOfWork):
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        require_kind(event, "competition")
        if not _is_judge(event, user):
            raise Forbidden("only the competition's judges can score")
        if event.get("ranking") is not None:
            raise Conflict("the ranking is final; scores can no longer change", code="already_ranked")
        if event["status"] not in SCORING_OPEN:
            raise Conflict(f"scoring is not open: the competition is {event['status']}", code="scoring_closed")
        sub = await ctx.db[SUBMISSIONS].find_one({"_id": submission_id, "event_id": event_id}, session=uow.session)
        if sub is None:
            raise NotFound(f"submission {submission_id} not found in this competition")
        if sub["user_id"] == user.id:
            raise Forbidden("judges cannot score their own submission")
        now = datetime.now(UTC)
        await ctx.db[SCORES].update_one(
            {"submission_id": submission_id, "judge_id": user.id},
            {"$set": {"event_id": event_id, "score": value, "comment": comment, "scored_at": now}},
            upsert=True, session=uow.session,
        )
        after = await uow.bump(EVENTS, {"_id": event_id}, {}, events=1)
        uow.emit_bumped(after, [SubmissionScored(**ref(after), submission_id=submission_id,
                                                          author_id=sub["user_id"], judge_id=user.id, score=value)], actor=user.id)
        return {"submission_id": submission_id, "judge_id": user.id, "score": value, "comment": comment,
                "scored_at": now}

    return await change_event(ctx, event_id, work)


async def finalize_ranking(*, ctx: Ctx, event_id: str, user: Principal) -> dict:
    async def work(uow: UnitOfWork):
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        require_manager(event, user)
        require_kind(event, "competition")
        if event.get("ranking") is not None:
            raise Conflict("the competition is already ranked", code="already_ranked")
        if event["status"] != Status.ENDED:
            raise Conflict(f"rank a competition once it has ended; it is {event['status']}", code="not_ended")
        subs = await ctx.db[SUBMISSIONS].find({"event_id": event_id}, session=uow.session).to_list()
        scores = await ctx.db[SCORES].find({"event_id": event_id}, session=uow.session).to_list()
        by_sub: dict[str, list[float]] = {}
        for s in scores:
            by_sub.setdefault(s["submission_id"], []).append(s["score"])
        placed = rank([Entry(s["_id"], s["user_id"], s["_id"], tuple(by_sub.get(s["_id"], ()))) for s in subs])
        if not placed:
            raise Conflict("no submission has been scored yet", code="nothing_to_rank")
        ranking = [{"submission_id": p.submission_id, "user_id": p.user_id, "place": p.place, "score": p.score}
                   for p in placed]
        unscored = [s["_id"] for s in subs if s["_id"] not in by_sub]
        now = datetime.now(UTC)
        after = await uow.bump(EVENTS, {"_id": event_id},
                           {"$set": {"ranking": ranking, "ranked_at": now, "unscored": unscored}}, events=1)
        payload = CompetitionRanked(**ref(after), ranking=[Placing(user_id=p.user_id, place=p.place, score=p.score)
                                                           for p in placed])
        uow.emit_bumped(after, [payload], actor=user.id)
        return {"event_id": event_id, "ranking": ranking, "unscored": unscored, "ranked_at": now}

    return await change_event(ctx, event_id, work)


async def get_ranking(*, ctx: Ctx, event_id: str, user: Principal | None) -> dict:
    event = await load_event(ctx, event_id, user=user)
    require_kind(event, "competition")
    if event.get("ranking") is None:
        raise NotFound("this competition has not been ranked yet")
    return {"event_id": event_id, "ranking": event["ranking"], "unscored": event.get("unscored", []),
            "ranked_at": event["ranked_at"]}
