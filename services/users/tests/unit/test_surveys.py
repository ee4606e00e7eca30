"""Surveys, the pure part: answers checked against the questions (each problem naming its question) and the counter
shards the live results add up. The API, transactions and anonymity on the real servers:
tests/integration/test_surveys.py."""

import pytest
from agora_users.api.survey_schemas import SurveyAnswer, SurveyCreate
from agora_users.domain import surveys as domain
from pydantic import ValidationError

QUESTIONS = domain.build_questions([
    {"kind": "single_choice", "text": "Which format suits you?", "required": True, "options": ["Online", "In person"]},
    {"kind": "multiple_choice", "text": "Topics", "required": False, "options": ["Audit", "Storage", "Hiring"],
     "max_choices": 2},
    {"kind": "scale", "text": "How useful was the last one?", "required": True, "min": 1, "max": 5},
    {"kind": "free_text", "text": "Anything else?", "required": False, "max_length": 20},
])


def test_questions_get_ids_in_order_and_only_their_own_fields():
    assert [q["id"] for q in QUESTIONS] == ["q1", "q2", "q3", "q4"]
    assert QUESTIONS[0]["options"] == [{"id": "o1", "label": "Online"}, {"id": "o2", "label": "In person"}]
    assert QUESTIONS[1]["max_choices"] == 2 and "max_choices" not in QUESTIONS[0]
    assert (QUESTIONS[2]["min"], QUESTIONS[2]["max"]) == (1, 5) and "options" not in QUESTIONS[2]
    assert QUESTIONS[3]["max_length"] == 20


def test_valid_answers_are_normalised():
    clean, problems = domain.check_answers(QUESTIONS, {"q1": "o2", "q2": ["o3", "o1"], "q3": 5, "q4": "  a\r\nb "})
    assert problems == []
    assert clean == {"q1": "o2", "q2": ["o1", "o3"], "q3": 5, "q4": "a\nb"}  # choices in option order, text stripped
    # optional questions may be left out, or sent empty
    clean, problems = domain.check_answers(QUESTIONS, {"q1": "o1", "q2": [], "q3": 1, "q4": "   "})
    assert problems == [] and clean == {"q1": "o1", "q3": 1}


@pytest.mark.parametrize(("answers", "question", "says"), [
    ({"q3": 3}, "q1", "is required"),
    ({"q1": "o1"}, "q3", "is required"),
    ({"q1": "o9", "q3": 3}, "q1", "choose one of o1, o2"),
    ({"q1": ["o1"], "q3": 3}, "q1", "choose one of o1, o2"),
    ({"q1": "o1", "q2": "o1", "q3": 3}, "q2", "list of option ids"),
    ({"q1": "o1", "q2": ["o1", "o1"], "q3": 3}, "q2", "chosen twice"),
    ({"q1": "o1", "q2": ["o1", "o2", "o3"], "q3": 3}, "q2", "at most 2"),
    ({"q1": "o1", "q2": ["o7"], "q3": 3}, "q2", "o7 is not an option"),
    ({"q1": "o1", "q3": 6}, "q3", "from 1 to 5"),
    ({"q1": "o1", "q3": "4"}, "q3", "whole number"),
    ({"q1": "o1", "q3": True}, "q3", "whole number"),
    ({"q1": "o1", "q3": 3, "q4": "x" * 21}, "q4", "at most 20 characters"),
    ({"q1": "o1", "q3": 3, "q4": 7}, "q4", "give a text"),
    ({"q1": "o1", "q3": 3, "q4": "bell\x07"}, "q4", "control characters"),
    ({"q1": "o1", "q3": 3, "q9": "?"}, "q9", "not a question of this survey"),
])
def test_each_problem_names_its_question(answers, question, says):
    _, problems = domain.check_answers(QUESTIONS, answers)
    [problem] = problems
    assert problem.question_id == question and says in problem.message
    assert problem.detail()["location"] == ["body", "answers", question]
    if question != "q9":
        assert next(q["text"] for q in QUESTIONS if q["id"] == question)[:20] in problem.message


def test_every_problem_is_reported_at_once():
    _, problems = domain.check_answers(QUESTIONS, {"q2": ["o1", "o1"], "q3": 0})
    assert [p.question_id for p in problems] == ["q1", "q2", "q3"]


def test_the_shards_add_up_to_the_results():
    responses = [{"q1": "o1", "q2": ["o1", "o2"], "q3": 5, "q4": "more"}, {"q1": "o2", "q3": 3},
                 {"q1": "o1", "q2": ["o2"], "q3": 4}]
    shards = [{"_id": f"s:{i}", **domain.empty_tally(QUESTIONS)} for i in range(domain.SHARDS)]

    def apply(shard: dict, inc: dict) -> None:
        for path, n in inc.items():
            node = shard
            *parents, leaf = path.split(".")
            for part in parents:
                node = node[part]
            node[leaf] += n

    for i, answers in enumerate(responses):
        apply(shards[i % 2], domain.increments(QUESTIONS, answers))
    result = domain.results(QUESTIONS, shards)
    assert result["responses"] == 3
    q1, q2, q3, q4 = result["questions"]
    assert [(o["option_id"], o["count"], o["share"]) for o in q1["options"]] == [("o1", 2, 0.6667), ("o2", 1, 0.3333)]
    assert q2["answered"] == 2 and [(o["count"], o["share"]) for o in q2["options"]] == [(1, 0.5), (2, 1.0), (0, 0.0)]
    assert q3["scale"]["mean"] == 4.0
    assert [d["count"] for d in q3["scale"]["distribution"]] == [0, 0, 1, 1, 1]
    assert q4["free_text"] == {"answers": 1} and q4["options"] is None
    # a response taken back, or only its free text (an erased account's), leaves the counts as they were
    apply(shards[5], domain.increments(QUESTIONS, responses[0], sign=-1))
    assert domain.results(QUESTIONS, shards)["responses"] == 2
    apply(shards[5], domain.increments(QUESTIONS, responses[0]))
    apply(shards[0], domain.free_text_increments(QUESTIONS, responses[0]))
    again = domain.results(QUESTIONS, shards)
    assert again["responses"] == 3 and again["questions"][3]["answered"] == 0
    assert again["questions"][0] == q1
    # before any response: no shares, no mean
    empty = domain.results(QUESTIONS, [domain.empty_tally(QUESTIONS)])
    assert empty["questions"][0]["options"][0]["share"] is None and empty["questions"][2]["scale"]["mean"] is None


def test_the_survey_body_is_checked_per_kind():
    good = {"title": "Needs", "questions": [{"kind": "scale", "text": "Useful?"}]}
    assert SurveyCreate(**good).questions[0].max == 5  # type: ignore[union-attr]
    for questions in (
        [],
        [{"kind": "rating", "text": "?"}],
        [{"kind": "single_choice", "text": "One option", "options": ["Only"]}],
        [{"kind": "single_choice", "text": "Twice", "options": ["A", "a"]}],
        [{"kind": "multiple_choice", "text": "Too many", "options": ["A", "B"], "max_choices": 3}],
        [{"kind": "scale", "text": "Upside down", "min": 5, "max": 1}],
        [{"kind": "scale", "text": "Too wide", "min": 0, "max": 11}],
        [{"kind": "scale", "text": "Options?", "options": ["A", "B"]}],
        [{"kind": "free_text", "text": "Long", "max_length": 100_000}],
        [{"kind": "free_text", "text": ""}],
    ):
        with pytest.raises(ValidationError):
            SurveyCreate(title="Needs", questions=questions)
    with pytest.raises(ValidationError):
        SurveyCreate(**good, extra=1)
    # answers are typed strictly: no "4" for 4, no true for 1
    assert SurveyAnswer(answers={"q1": 4, "q2": "o1", "q3": ["o1"], "q4": None}).answers["q1"] == 4
    with pytest.raises(ValidationError):
        SurveyAnswer(answers={"q1": {"nested": 1}})


async def test_the_use_cases_on_fakes_send_answer_aggregate_and_erase():
    from agora_common.errors import Conflict, Forbidden, InvalidInput
    from agora_common.ids import utcnow
    from agora_common.topics import Topics
    from agora_testing.fakes import FakeTransactions, memory_database
    from agora_users.adapters.hashing import PasswordHasher
    from agora_users.adapters.store import Store, ensure_indexes
    from agora_users.config import Settings
    from agora_users.service import groups, surveys

    db = memory_database()
    store = Store(settings=Settings(), db=db, topics=Topics(), transactions=FakeTransactions(db),
                  hasher=PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1))
    await ensure_indexes(db)
    await db.users.insert_many([{"_id": f"u{i}", "display_name": f"U{i}", "roles": ["member"], "status": "active",
                                 "city": "Oslo" if i < 3 else "Rome", "created_at": utcnow()} for i in range(4)])
    group, _ = await groups.create(store=store, name="Oslo", description=None, required=False,
                                   filter={"city": "Oslo"}, members=None, operator_id="op")
    questions = [{"kind": "single_choice", "text": "Format?", "required": True, "options": ["A", "B"]},
                 {"kind": "free_text", "text": "Else?", "required": False, "max_length": 100}]
    survey, _ = await surveys.create(store=store, operator_id="op", title="T", description=None, anonymous=False,
                                     closes_at=None, questions=questions)
    with pytest.raises(Forbidden):  # a draft reaches nobody
        await surveys.answer(store=store, survey_id=survey["_id"], user_id="u0", answers={"q1": "o1"})
    sent, _ = await surveys.send(store=store, survey_id=survey["_id"], group_id=group["_id"], operator_id="op",
                                 message=None)
    assert (sent["status"], sent["recipients"]) == ("open", 3)
    published = store.transactions.published
    assert [e.type for e in published][-2:] == ["AnnouncementSent", "SurveySent"]
    with pytest.raises(Forbidden):
        await surveys.answer(store=store, survey_id=survey["_id"], user_id="u3", answers={"q1": "o1"})
    with pytest.raises(InvalidInput) as refused:
        await surveys.answer(store=store, survey_id=survey["_id"], user_id="u0", answers={"q1": "o3"})
    assert refused.value.code == "invalid_answers" and refused.value.details[0]["question_id"] == "q1"
    receipt, _ = await surveys.answer(store=store, survey_id=survey["_id"], user_id="u0",
                                      answers={"q1": "o1", "q2": "more"})
    assert receipt["answers"] == {"q1": "o1", "q2": "more"}
    await surveys.answer(store=store, survey_id=survey["_id"], user_id="u1", answers={"q1": "o2"})
    with pytest.raises(Conflict) as again:
        await surveys.answer(store=store, survey_id=survey["_id"], user_id="u0", answers={"q1": "o2"})
    assert again.value.code == "already_answered"
    res = await surveys.results(store=store, survey_id=survey["_id"])
    assert (res["responses"], res["response_rate"]) == (2, 0.6667)
    assert [o["count"] for o in res["questions"][0]["options"]] == [1, 1] and res["questions"][1]["answered"] == 1

    async def erase(tx):
        await surveys.erase_member(tx, "u0")

    await store.transactions.run(erase)
    res = await surveys.results(store=store, survey_id=survey["_id"])
    assert res["responses"] == 2 and res["questions"][1]["answered"] == 0
    assert await db.survey_participations.count_documents({"user_id": "u0"}) == 0
    assert await db.survey_responses.count_documents({"survey_id": survey["_id"]}) == 1
    _, rows = await surveys.free_text_rows(store=store, survey_id=survey["_id"])
    assert rows == []
