"""Training exams: the question bank, timed attempts, grading, and the certificate for a pass."""

import random
from datetime import UTC, datetime, timedelta

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, NotFound
from agora_common.events.community import CertificateIssued, ExamFailed, ExamPassed
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.standing import ensure_in_good_standing
from agora_common.uow import UnitOfWork

from agora_events import metrics
from agora_events.adapters.mongo import ATTEMPTS, CERTIFICATES, EVENTS, EXAMS, REGISTRATIONS
from agora_events.domain import credential
from agora_events.domain.exam import Question, check_question, grade, is_late
from agora_events.domain.lifecycle import Status
from agora_events.service.context import Ctx, change_event, load_event, ref, require_manager
from agora_events.service.events import require_kind

EXAM_OPEN = (Status.LIVE.value, Status.ENDED.value)


async def set_exam(*, ctx: Ctx, event_id: str, exam: dict, user: Principal) -> dict:
    """Create or replace the exam of a training, as long as nobody has attempted it yet."""
    event = await load_event(ctx, event_id, user=user)
    require_manager(event, user)
    require_kind(event, "training")
    if event["status"] in (Status.ENDED, Status.CANCELLED):
        raise Conflict(f"the training is {event['status']}", code="event_over")
    questions = [Question.from_doc(q) for q in exam["questions"]]
    for q in questions:
        check_question(q)
    if await ctx.db[ATTEMPTS].count_documents({"event_id": event_id}, limit=1):
        raise Conflict("people have already attempted this exam; it can no longer be changed", code="exam_in_use")
    now = datetime.now(UTC)
    doc = {"_id": event_id, **exam, "updated_at": now, "updated_by": user.id}
    await ctx.db[EXAMS].replace_one({"_id": event_id}, doc, upsert=True)
    return doc


async def get_exam(*, ctx: Ctx, event_id: str, user: Principal) -> dict:
    event = await load_event(ctx, event_id, user=user)
    require_manager(event, user)
    exam = await ctx.db[EXAMS].find_one({"_id": event_id})
    if exam is None:
        raise NotFound("this training has no exam yet")
    return exam


def _public_question(q: dict) -> dict:
    return {k: q[k] for k in ("id", "text", "kind", "options", "points")}


async def start_attempt(*, ctx: Ctx, event_id: str, user: Principal,
                        idempotency_key: str | None = None) -> tuple[dict, bool]:
    """A timed attempt with questions drawn from the bank. With an Idempotency-Key, a retry answers with the attempt
    the first request started (same questions, same deadline) instead of 409 `attempt_in_progress`, and uses up no
    second attempt. Returns (attempt, replayed)."""
    fresh: dict | None = None

    async def work(uow: UnitOfWork) -> str:
        nonlocal fresh
        await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        require_kind(event, "training")
        exam = await ctx.db[EXAMS].find_one({"_id": event_id}, session=uow.session)
        if exam is None:
            raise NotFound("this training has no exam yet")
        if event["status"] not in EXAM_OPEN:
            raise Conflict(f"the exam opens when the training is live; it is {event['status']}", code="exam_not_open")
        reg = await ctx.db[REGISTRATIONS].find_one(
            {"event_id": event_id, "user_id": user.id, "status": "confirmed"}, session=uow.session
        )
        if reg is None:
            raise Forbidden("only attendees with a confirmed registration can take the exam")
        previous = await ctx.db[ATTEMPTS].find({"event_id": event_id, "user_id": user.id}, session=uow.session).to_list()
        now = datetime.now(UTC)
        if any(a["status"] == "passed" for a in previous):
            raise Conflict("you have already passed this exam", code="already_passed")
        running = [a for a in previous if a["status"] == "in_progress"
                   and not is_late(now, a["deadline"], ctx.settings.exam_grace_seconds)]
        if running:
            raise Conflict("you already have an attempt in progress", code="attempt_in_progress",
                           details={"attempt_id": running[0]["_id"], "deadline": running[0]["deadline"].isoformat()})
        if len(previous) >= exam["max_attempts"]:
            raise Conflict(f"no attempts left (at most {exam['max_attempts']})", code="no_attempts_left")
        for stale in previous:  # an attempt left open past its deadline counts as expired
            if stale["status"] == "in_progress":
                await ctx.db[ATTEMPTS].update_one({"_id": stale["_id"]}, {"$set": {"status": "expired"},
                                                  "$unset": {"open_key": ""}}, session=uow.session)
        bank = exam["questions"]
        drawn = random.sample(bank, min(exam.get("questions_per_attempt") or len(bank), len(bank)))
        attempt = {
            "_id": new_id(),
            "event_id": event_id,
            "user_id": user.id,
            "user_name": user.name,
            "question_ids": [q["id"] for q in drawn],
            "status": "in_progress",
            "open_key": f"{event_id}:{user.id}",
            "started_at": now,
            "deadline": now + timedelta(seconds=exam["time_limit_seconds"]),
        }
        await ctx.db[ATTEMPTS].insert_one(attempt, session=uow.session)
        fresh = _attempt_view(attempt, exam)
        return attempt["_id"]

    attempt_id, replayed = await create_once(
        db=ctx.db, run=lambda body: change_event(ctx, event_id, body), user_id=user.id,
        scope=f"attempt:{event_id}", key=idempotency_key, payload={}, body=work)
    if fresh is not None and not replayed:
        return fresh, False
    attempt = await ctx.db[ATTEMPTS].find_one({"_id": attempt_id})
    exam = await ctx.db[EXAMS].find_one({"_id": event_id})
    if attempt is None or exam is None:
        raise NotFound(f"attempt {attempt_id} not found")
    return _attempt_view(attempt, exam), replayed


def _attempt_view(attempt: dict, exam: dict) -> dict:
    """The attempt as its taker sees it: the drawn questions (in the drawn order) without their answers."""
    by_id = {q["id"]: q for q in exam["questions"]}
    questions = [_public_question(by_id[qid]) for qid in attempt["question_ids"] if qid in by_id]
    return {**attempt, "questions": questions, "pass_mark": exam["pass_mark"]}


async def submit_attempt(*, ctx: Ctx, event_id: str, attempt_id: str, answers: dict, user: Principal) -> dict:
    async def work(uow: UnitOfWork):
        await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        attempt = await ctx.db[ATTEMPTS].find_one({"_id": attempt_id, "event_id": event_id}, session=uow.session)
        if attempt is None or attempt["user_id"] != user.id:
            raise NotFound(f"attempt {attempt_id} not found")
        if attempt["status"] != "in_progress":
            raise Conflict(f"this attempt is already {attempt['status']}", code="attempt_closed")
        now = datetime.now(UTC)
        if is_late(now, attempt["deadline"], ctx.settings.exam_grace_seconds):
            return None  # recorded as expired below, outside this (aborted) unit of work
        exam = await ctx.db[EXAMS].find_one({"_id": event_id}, session=uow.session)
        by_id = {q["id"]: q for q in exam["questions"]}
        questions = [Question.from_doc(by_id[qid]) for qid in attempt["question_ids"]]
        result = grade(questions, answers, exam["pass_mark"])  # InvalidInput before anything is written
        status = "passed" if result.passed else "failed"
        await ctx.db[ATTEMPTS].update_one(
            {"_id": attempt_id, "status": "in_progress"},
            {"$set": {"status": status, "submitted_at": now, "answers": answers, "score": result.score,
                      "correct": result.correct}, "$unset": {"open_key": ""}},
            session=uow.session,
        )
        common = dict(**ref(event), exam_id=event_id, attempt_id=attempt_id, user_id=user.id,
                      score=result.score, pass_mark=exam["pass_mark"])
        payloads = [ExamPassed(**common) if result.passed else ExamFailed(**common)]
        certificate_id = None
        if result.passed:
            certificate = _certificate(ctx, event, exam, attempt, result.score, now)
            await ctx.db[CERTIFICATES].insert_one(certificate, session=uow.session)
            certificate_id = certificate["_id"]
            payloads.append(CertificateIssued(**ref(event), certificate_id=certificate_id, user_id=user.id))
        after = await uow.bump(EVENTS, {"_id": event_id}, {}, events=len(payloads))
        uow.emit_bumped(after, payloads, actor=user.id)
        return {"attempt_id": attempt_id, "status": status, "score": result.score, "pass_mark": exam["pass_mark"],
                "passed": result.passed, "correct": result.correct, "certificate_id": certificate_id}

    outcome = await change_event(ctx, event_id, work)
    if outcome is None:
        await ctx.transactions.run(lambda uow: ctx.db[ATTEMPTS].update_one(
            {"_id": attempt_id, "status": "in_progress"},
            {"$set": {"status": "expired", "submitted_at": datetime.now(UTC)}, "$unset": {"open_key": ""}},
            session=uow.session))
        metrics.EXAMS_GRADED.labels("expired").inc()
        raise Conflict("the time for this attempt is over; the answers were not accepted", code="attempt_expired")
    metrics.EXAMS_GRADED.labels(outcome["status"]).inc()
    return outcome


def _certificate(ctx: Ctx, event: dict, exam: dict, attempt: dict, score: float, now: datetime) -> dict:
    key = ctx.signing_key
    certificate_id = new_id()
    base = ctx.settings.public_base_url.rstrip("/")
    unsigned = credential.build(
        certificate_id=certificate_id,
        issuer_did=credential.did_key(key.public_key()),
        issuer_name=ctx.settings.cert_issuer_name,
        issued_at=now,
        user_id=attempt["user_id"],
        user_name=attempt.get("user_name"),
        achievement_id=f"{base}/api/v1/events/{event['_id']}",
        achievement_name=event["title"],
        achievement_description=event.get("description") or f"Certificate of the training {event['title']}",
        criteria=f"Passed the exam of the training with a score of at least {exam['pass_mark']:g}%.",
        score=score,
        pass_mark=exam["pass_mark"],
    )
    return {
        "_id": certificate_id,
        "event_id": event["_id"],
        "user_id": attempt["user_id"],
        "attempt_id": attempt["_id"],
        "issued_at": now,
        "revoked": False,
        "credential": credential.sign(unsigned, key, created=now),
    }
