"""Surveys: operators create them, send them to a user group and read the live results; the members they reached
read and answer them (once)."""

from typing import Annotated, Literal

from agora_common.auth import CurrentUser, Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.ids import utcnow
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import ActiveMember, StoreDep
from agora_users.api.exports import csv_download, csv_text
from agora_users.api.survey_schemas import (
    SurveyAnswer,
    SurveyCreate,
    SurveyRead,
    SurveyResponseRead,
    SurveyResults,
    SurveySend,
    survey_read,
)
from agora_users.service import surveys

router = APIRouter(prefix="/surveys", tags=["surveys"])

FREE_TEXT_COLUMNS = ["response_id", "user_id", "display_name", "answered_at", "question_id", "question", "answer"]
ANONYMOUS_FREE_TEXT_COLUMNS = ["respondent", "question_id", "question", "answer"]


async def _read(store, doc: dict, user_id: str) -> SurveyRead:
    return survey_read(doc, status=surveys.status(doc),
                       answered=await surveys.has_answered(store=store, survey_id=doc["_id"], user_id=user_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SurveyRead,
             responses=errors(401, 403, 409, 422),
             summary="Create a survey (operators): questions of kind single_choice, multiple_choice, scale or "
                     "free_text; anonymous or not; a draft until sent")
async def create_survey(body: SurveyCreate, operator: Operator, store: StoreDep, response: Response,
                        idempotency_key: IdempotencyKey = None) -> SurveyRead:
    doc, replayed = await surveys.create(
        store=store, operator_id=operator.id, title=body.title, description=body.description,
        anonymous=body.anonymous, closes_at=body.closes_at,
        questions=[q.model_dump() for q in body.questions], idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return await _read(store, doc, operator.id)


@router.get("", response_model=Page[SurveyRead], responses=errors(401, 403, 422),
            summary="Surveys, newest first, optionally by status now (operators)")
async def list_surveys(operator: Operator, store: StoreDep,
                       status: Literal["draft", "sending", "open", "closed"] | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       cursor: Annotated[str | None, Query(max_length=500)] = None) -> Page[SurveyRead]:
    docs, next_cursor = await surveys.list_page(store=store, status_filter=status, limit=limit, cursor=cursor)
    answered = await surveys.answered_among(store=store, survey_ids=[d["_id"] for d in docs], user_id=operator.id)
    return Page[SurveyRead](items=[survey_read(d, status=surveys.status(d), answered=d["_id"] in answered)
                                   for d in docs], next_cursor=next_cursor)


@router.get("/{survey_id}", response_model=SurveyRead, responses=errors(401, 403, 404),
            summary="One survey: operators read any; a member only one sent to them (403 not_a_recipient)")
async def get_survey(survey_id: str, user: CurrentUser, store: StoreDep) -> SurveyRead:
    if user.has("operator"):
        doc = await surveys.get(store=store, survey_id=survey_id)
    else:
        doc = await surveys.get_for_member(store=store, survey_id=survey_id, user_id=user.id)
    return await _read(store, doc, user.id)


@router.post("/{survey_id}/send", response_model=SurveyRead, responses=errors(401, 403, 404, 409, 422),
             summary="Send the survey to a user group (operators): an inbox item linking to it for every member "
                     "who has not muted the group, delivered like an announcement; then it takes answers")
async def send_survey(survey_id: str, body: SurveySend, operator: Operator, store: StoreDep, response: Response,
                      idempotency_key: IdempotencyKey = None) -> SurveyRead:
    doc, replayed = await surveys.send(store=store, survey_id=survey_id, group_id=body.group_id,
                                       operator_id=operator.id, message=body.message,
                                       idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return await _read(store, doc, operator.id)


@router.post("/{survey_id}/close", response_model=SurveyRead, responses=errors(401, 403, 404, 409),
             summary="Stop taking answers (operators; idempotent)")
async def close_survey(survey_id: str, operator: Operator, store: StoreDep) -> SurveyRead:
    return await _read(store, await surveys.close(store=store, survey_id=survey_id), operator.id)


@router.post("/{survey_id}/responses", status_code=status.HTTP_201_CREATED, response_model=SurveyResponseRead,
             responses=errors(401, 403, 404, 409, 422),
             summary="Answer a survey sent to me, once (409 already_answered; 422 invalid_answers names each "
                     "question whose answer does not fit)")
async def answer_survey(survey_id: str, body: SurveyAnswer, user: ActiveMember, store: StoreDep, response: Response,
                        idempotency_key: IdempotencyKey = None) -> SurveyResponseRead:
    receipt, replayed = await surveys.answer(store=store, survey_id=survey_id, user_id=user.id, answers=body.answers,
                                             idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return SurveyResponseRead(**receipt)


@router.get("/{survey_id}/results", response_model=SurveyResults, responses=errors(401, 403, 404),
            summary="Live results (operators): counts per option, mean and distribution per scale, responses and "
                    "the response rate")
async def survey_results(survey_id: str, operator: Operator, store: StoreDep) -> SurveyResults:
    return SurveyResults.model_validate(await surveys.results(store=store, survey_id=survey_id))


@router.get("/{survey_id}/free-text.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "every free-text answer, one row each; in an anonymous "
                                                      "survey only a respondent number, no member or time"},
    **errors(401, 403, 404)},
    summary="The free-text answers as a CSV download (operators)")
async def export_free_text(survey_id: str, operator: Operator, store: StoreDep) -> Response:
    survey, rows = await surveys.free_text_rows(store=store, survey_id=survey_id)
    columns = ANONYMOUS_FREE_TEXT_COLUMNS if survey["anonymous"] else FREE_TEXT_COLUMNS
    return csv_download(csv_text(columns, rows), f"survey-{survey_id}-free-text-{utcnow():%Y%m%d}.csv")
