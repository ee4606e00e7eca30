"""Surveys through the app against real MongoDB and Kafka: every question kind, answers checked against the
questions, one response per member, anonymous surveys that store no link, live results and the CSV export."""

import csv
import io

import pytest
from agora_common.events import Envelope
from agora_common.idempotency import fingerprint
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

U = "/api/v1/users"

QUESTIONS = [
    {"kind": "single_choice", "text": "Which format suits you?", "options": ["Online", "In person"]},
    {"kind": "multiple_choice", "text": "Which topics?", "options": ["Audit", "Storage", "Hiring"], "max_choices": 2,
     "required": False},
    {"kind": "scale", "text": "How useful was the last exchange?", "min": 1, "max": 5, "min_label": "not at all",
     "max_label": "very"},
    {"kind": "free_text", "text": "Anything else?"},
]


async def make_survey(client, headers, **body) -> dict:
    r = await client.post(f"{U}/surveys", headers=headers, json={"title": "Needs", "questions": QUESTIONS, **body})
    assert r.status_code == 201, r.text
    return r.json()


async def send(client, headers, survey_id: str, group_id: str, **body) -> dict:
    r = await client.post(f"{U}/surveys/{survey_id}/send", headers=headers, json={"group_id": group_id, **body})
    assert r.status_code == 200, r.text
    return r.json()


async def answer(client, who: dict, survey_id: str, answers: dict, **headers):
    return await client.post(f"{U}/surveys/{survey_id}/responses", headers={**who["headers"], **headers},
                             json={"answers": answers})


async def test_a_survey_is_sent_to_a_group_answered_once_and_aggregated_live(make_group, client, member, operator_headers,
                                                                           settings):
    ada = await member("ada@example.com", "Ada", industry="Finance")
    bob = await member("bob@example.com", "Bob", industry="Finance")
    cai = await member("cai@example.com", "Cai", industry="Finance")
    dan = await member("dan@example.com", "Dan", industry="Retail")
    eve = await member("eve@example.com", "Eve", industry="Finance")
    group = await make_group(operator_headers, name="Finance peers", filter={"industry": "Finance"})
    assert (await client.post(f"{U}/me/muted-groups/{group['id']}", headers=eve["headers"])).status_code == 200

    survey = await make_survey(client, operator_headers, title="Next peer exchange", description="Help us plan it.")
    assert survey["status"] == "draft" and survey["anonymous"] is False and survey["recipients"] == 0
    assert [q["id"] for q in survey["questions"]] == ["q1", "q2", "q3", "q4"]
    assert survey["questions"][0]["options"] == [{"id": "o1", "label": "Online"}, {"id": "o2", "label": "In person"}]
    assert survey["questions"][2]["min_label"] == "not at all" and survey["questions"][3]["required"] is False
    sid = survey["id"]
    # a draft reaches nobody
    r = await client.get(f"{U}/surveys/{sid}", headers=ada["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_recipient"
    r = await client.post(f"{U}/surveys/{sid}/close", headers=operator_headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "survey_not_sent"

    sent = await send(client, operator_headers, sid, group["id"], message="Two minutes, please.")
    assert (sent["status"], sent["recipients"], sent["muted"], sent["group_name"]) == ("open", 3, 1, "Finance peers")
    again = await client.post(f"{U}/surveys/{sid}/send", headers=operator_headers, json={"group_id": group["id"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "survey_already_sent"

    # the invitation is an inbox item linking to the survey, delivered like an announcement
    [item] = (await client.get(f"{U}/me/inbox", headers=ada["headers"])).json()["items"]
    assert (item["kind"], item["survey_id"], item["title"]) == ("survey", sid, "Next peer exchange")
    assert item["link"] == f"/api/v1/users/surveys/{sid}" and item["body"].startswith("Two minutes, please.")
    assert (await client.get(f"{U}/me/inbox", headers=eve["headers"])).json()["items"] == []  # muted
    r = await client.get(f"{U}/announcements/{sent['announcement_id']}", headers=operator_headers)
    assert (r.json()["kind"], r.json()["survey_id"], r.json()["recipients"]) == ("survey", sid, 3)

    # members read only the surveys sent to them
    r = await client.get(f"{U}/surveys/{sid}", headers=ada["headers"])
    assert r.status_code == 200 and r.json()["answered"] is False and r.json()["status"] == "open"
    for outsider in (dan, eve):
        r = await client.get(f"{U}/surveys/{sid}", headers=outsider["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_recipient"
        r = await answer(client, outsider, sid, {"q1": "o1", "q3": 3})
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_recipient"
    assert (await client.get(f"{U}/surveys/nope", headers=ada["headers"])).status_code == 404

    r = await answer(client, ada, sid, {"q1": "o2", "q2": ["o2", "o1"], "q3": 5, "q4": "=HYPERLINK(\"x\")"})
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["anonymous"] is False and receipt["response_id"] and receipt["answered_at"]
    assert receipt["answers"] == {"q1": "o2", "q2": ["o1", "o2"], "q3": 5, "q4": "=HYPERLINK(\"x\")"}
    # live: the results count the answer at once
    r = await client.get(f"{U}/surveys/{sid}/results", headers=operator_headers)
    assert r.status_code == 200 and (r.json()["responses"], r.json()["recipients"]) == (1, 3)

    # one response per member: a second answer is refused; a retry with the same key replays the first
    r = await answer(client, ada, sid, {"q1": "o1", "q3": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_answered"
    first = await answer(client, bob, sid, {"q1": "o2", "q2": ["o2"], "q3": 3}, **{"Idempotency-Key": "b1"})
    replay = await answer(client, bob, sid, {"q1": "o2", "q2": ["o2"], "q3": 3}, **{"Idempotency-Key": "b1"})
    assert first.status_code == replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    r = await answer(client, bob, sid, {"q1": "o1", "q3": 3}, **{"Idempotency-Key": "b1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert (await client.get(f"{U}/surveys/{sid}", headers=bob["headers"])).json()["answered"] is True

    r = await client.get(f"{U}/surveys/{sid}/results", headers=operator_headers)
    res = r.json()
    assert (res["status"], res["responses"], res["recipients"], res["response_rate"]) == ("open", 2, 3, 0.6667)
    q1, q2, q3, q4 = res["questions"]
    assert [(o["label"], o["count"], o["share"]) for o in q1["options"]] == [("Online", 0, 0.0), ("In person", 2, 1.0)]
    assert q2["answered"] == 2 and [o["count"] for o in q2["options"]] == [1, 2, 0]
    assert q3["scale"]["mean"] == 4.0 and [d["count"] for d in q3["scale"]["distribution"]] == [0, 0, 1, 0, 1]
    assert q4["free_text"] == {"answers": 1} and q4["answered"] == 1

    # the free-text answers as CSV, with who said it (not anonymous), formulas neutralised
    r = await client.get(f"{U}/surveys/{sid}/free-text.csv", headers=operator_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith(f'attachment; filename="survey-{sid}-free-text-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["user_id"], x["display_name"], x["question_id"], x["answer"]) for x in rows] == [
        (ada["id"], "Ada", "q4", "'=HYPERLINK(\"x\")")]
    assert rows[0]["response_id"] == receipt["response_id"] and rows[0]["question"] == "Anything else?"

    # only operators create, send, list, close and read results
    for method, path, body in (("post", "/surveys", {"title": "t", "questions": QUESTIONS}), ("get", "/surveys", None),
                               ("post", f"/surveys/{sid}/send", {"group_id": group["id"]}),
                               ("post", f"/surveys/{sid}/close", None), ("get", f"/surveys/{sid}/results", None),
                               ("get", f"/surveys/{sid}/free-text.csv", None)):
        r = await client.request(method, U + path, headers=ada["headers"], json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path, r.text)
    assert (await client.get(f"{U}/surveys/{sid}")).status_code == 401

    r = await client.get(f"{U}/surveys", headers=operator_headers, params={"status": "open"})
    assert [s["id"] for s in r.json()["items"]] == [sid]
    assert (await client.get(f"{U}/surveys", headers=operator_headers, params={"status": "draft"})).json()["items"] == []

    # closed: no more answers (closing again changes nothing)
    r = await client.post(f"{U}/surveys/{sid}/close", headers=operator_headers)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    assert (await client.post(f"{U}/surveys/{sid}/close", headers=operator_headers)).json() == r.json()
    r = await answer(client, cai, sid, {"q1": "o1", "q3": 2})
    assert r.status_code == 409 and r.json()["error"]["code"] == "survey_closed"
    # ... but a retry of an answer given in time still replays
    replay = await answer(client, bob, sid, {"q1": "o2", "q2": ["o2"], "q3": 3}, **{"Idempotency-Key": "b1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    r = await client.get(f"{U}/surveys", headers=operator_headers, params={"status": "closed"})
    assert [s["id"] for s in r.json()["items"]] == [sid]

    # published: SurveySent with the totals, and one SurveyAnswered per response naming the member
    def mine(es: list[Envelope]) -> list[Envelope]:
        return [e for e in es if e.type in ("SurveySent", "SurveyAnswered")]

    events = mine(await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                                    until=lambda es: len(mine(es)) >= 3))
    # (keyed by survey and by response: different partitions, so no order between them)
    [sent_envelope] = [e for e in events if e.type == "SurveySent"]
    sent_event = sent_envelope.payload()
    assert (sent_event.survey_id, sent_event.recipients, sent_event.muted, sent_event.questions) == (sid, 3, 1, 4)
    assert sent_envelope.subject == sid and sent_envelope.actor == "op-1"
    answered = {e.actor: e for e in events if e.type == "SurveyAnswered"}
    assert set(answered) == {ada["id"], bob["id"]}
    assert {e.payload().user_id for e in answered.values()} == {ada["id"], bob["id"]}
    assert not any(e.payload().anonymous for e in answered.values())
    assert answered[ada["id"]].subject == receipt["response_id"] and answered[ada["id"]].version == 1


async def test_answers_and_surveys_are_checked_with_errors_naming_the_question(make_group, client, member, operator_headers):
    ada = await member("ada@example.com", "Ada", city="Oslo")
    group = await make_group(operator_headers, name="Oslo", filter={"city": "Oslo"})
    sid = (await make_survey(client, operator_headers))["id"]
    await send(client, operator_headers, sid, group["id"])

    async def refused(answers: dict, question: str, says: str) -> None:
        r = await answer(client, ada, sid, answers)
        assert r.status_code == 422, (answers, r.text)
        body = r.json()["error"]
        assert body["code"] == "invalid_answers", body
        assert question in [d["question_id"] for d in body["details"]] and says in body["message"], body

    await refused({"q3": 3}, "q1", "q1 ('Which format suits you?') is required")
    await refused({"q1": "o3", "q3": 3}, "q1", "choose one of o1, o2")
    await refused({"q1": "o1", "q2": ["o1", "o2", "o3"], "q3": 3}, "q2", "at most 2")
    await refused({"q1": "o1", "q2": ["o1", "o1"], "q3": 3}, "q2", "chosen twice")
    await refused({"q1": "o1", "q3": 9}, "q3", "from 1 to 5")
    await refused({"q1": "o1", "q3": 3, "q4": "x" * 2001}, "q4", "at most 2000 characters")
    await refused({"q1": "o1", "q3": 3, "q7": "?"}, "q7", "not a question of this survey")
    r = await answer(client, ada, sid, {"q2": ["o1", "o1"], "q3": 0})
    assert [d["question_id"] for d in r.json()["error"]["details"]] == ["q1", "q2", "q3"]  # every problem at once
    await refused({"q1": "o1", "q3": "3"}, "q3", "whole number")  # strictly typed: no "3" for 3
    # values that are no answer at all are refused before: the location names the question
    r = await answer(client, ada, sid, {"q1": "o1", "q3": {"value": 3}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    assert all(d["location"][:3] == ["body", "answers", "q3"] for d in r.json()["error"]["details"])
    r = await client.post(f"{U}/surveys/{sid}/responses", headers=ada["headers"], json={"answer": {}})
    assert r.status_code == 422
    # nothing was recorded: the member can still answer
    assert (await answer(client, ada, sid, {"q1": "o1", "q3": 3})).status_code == 201

    async def bad_survey(body: dict, code: str = "invalid_input") -> None:
        r = await client.post(f"{U}/surveys", headers=operator_headers, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body, r.text)

    await bad_survey({"title": "No questions", "questions": []})
    await bad_survey({"title": "Kind", "questions": [{"kind": "rating", "text": "?"}]})
    await bad_survey({"title": "One option", "questions": [{"kind": "single_choice", "text": "?", "options": ["A"]}]})
    await bad_survey({"title": "Scale", "questions": [{"kind": "scale", "text": "?", "min": 5, "max": 5}]})
    await bad_survey({"title": "Extra", "questions": QUESTIONS, "public": True})
    await bad_survey({"title": "Past", "questions": QUESTIONS, "closes_at": "2001-01-01T00:00:00Z"}, "invalid_closes_at")
    await bad_survey({"title": "Far", "questions": QUESTIONS, "closes_at": "2999-01-01T00:00:00Z"})
    r = await client.post(f"{U}/surveys/{sid}/send", headers=operator_headers, json={"group_id": "nope"})
    assert r.status_code == 404
    r = await client.post(f"{U}/surveys/nope/send", headers=operator_headers, json={"group_id": group["id"]})
    assert r.status_code == 404
    assert (await client.get(f"{U}/surveys/nope/results", headers=operator_headers)).status_code == 404
    r = await client.get(f"{U}/surveys", headers=operator_headers, params={"status": "archived"})
    assert r.status_code == 422


async def test_an_anonymous_survey_stores_no_link_between_a_member_and_the_answers(make_group, client, member, operator_headers,
                                                                                 settings, app):
    ada = await member("ada@example.com", "Ada", city="Lyon")
    bob = await member("bob@example.com", "Bob", city="Lyon")
    group = await make_group(operator_headers, name="Lyon", filter={"city": "Lyon"})
    survey = await make_survey(client, operator_headers, anonymous=True)
    sid = survey["id"]
    await send(client, operator_headers, sid, group["id"])
    [item] = (await client.get(f"{U}/me/inbox", headers=ada["headers"])).json()["items"]
    assert "anonymous" in item["body"]

    r = await answer(client, ada, sid, {"q1": "o1", "q2": ["o3"], "q3": 2, "q4": "Ada would like audits"},
                     **{"Idempotency-Key": "a1"})
    assert r.status_code == 201, r.text
    assert r.json() == {"survey_id": sid, "anonymous": True, "response_id": None, "answers": None,
                        "answered_at": None}
    replay = await answer(client, ada, sid, {"q1": "o1", "q2": ["o3"], "q3": 2, "q4": "Ada would like audits"},
                          **{"Idempotency-Key": "a1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert (await answer(client, bob, sid, {"q1": "o2", "q3": 4, "q4": "Bob: storage"})).status_code == 201
    # still one response per member
    r = await answer(client, ada, sid, {"q1": "o2", "q3": 5})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_answered"

    db = app.state.store.db
    responses = await db.survey_responses.find({"survey_id": sid}).to_list()
    assert len(responses) == 2
    for response in responses:
        assert set(response) == {"_id", "survey_id", "answers"}  # no member, no time
        assert len(response["_id"]) == 32 and "-" not in response["_id"]  # random, not time-ordered
    participations = await db.survey_participations.find({"survey_id": sid}).to_list()
    assert sorted(p["user_id"] for p in participations) == sorted([ada["id"], bob["id"]])
    for p in participations:
        assert set(p) == {"_id", "survey_id", "user_id", "anonymous"}  # that they responded, nothing more
    response_ids = {r["_id"] for r in responses}
    # no record of the service names a response next to a member (the key record holds the participation, the
    # outbox's SurveyAnswered the response without the member)
    [key] = await db.idempotency_keys.find({"_id": f"{ada['id']}:survey-answer:{sid}:a1"}).to_list()
    assert key["resource_id"] == f"{sid}:{ada['id']}" and key["fingerprint"] == fingerprint({"survey_id": sid})
    member_ids = {ada["id"], bob["id"]}
    for name in await db.list_collection_names():
        for doc in await db[name].find().to_list():
            text = str(doc)
            assert not (any(r in text for r in response_ids) and any(m in text for m in member_ids)), (name, doc)
    # the inbox item was not marked read at answer time (a read time would date the response)
    row = await db.inbox.find_one({"user_id": ada["id"]})
    assert row["read"] is False and row["read_at"] is None

    # the results and the CSV: figures and texts, never who
    res = (await client.get(f"{U}/surveys/{sid}/results", headers=operator_headers)).json()
    assert (res["anonymous"], res["responses"], res["response_rate"]) == (True, 2, 1.0)
    assert [o["count"] for o in res["questions"][0]["options"]] == [1, 1] and res["questions"][2]["scale"]["mean"] == 3
    r = await client.get(f"{U}/surveys/{sid}/free-text.csv", headers=operator_headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["respondent", "question_id", "question", "answer"]
    assert sorted(x["answer"] for x in rows) == ["Ada would like audits", "Bob: storage"]
    assert sorted(x["respondent"] for x in rows) == ["1", "2"]
    for who in (ada, bob):
        assert who["id"] not in r.text

    # published without the member (no user id, no actor)
    events = [e for e in await read_events(
        settings.kafka_bootstrap, f"{settings.topic_prefix}users",
        until=lambda es: len([e for e in es if e.type == "SurveyAnswered"]) >= 2) if e.type == "SurveyAnswered"]
    assert len(events) == 2
    for event in events:
        assert event.actor is None and event.payload().user_id is None and event.payload().anonymous is True
        assert ada["id"] not in event.to_bytes().decode() and bob["id"] not in event.to_bytes().decode()

    # the member's own data export says they responded, and cannot give the answers back
    data = (await client.get(f"{U}/me/export", headers=ada["headers"])).json()
    assert data["survey_responses"] == [{"survey_id": sid, "anonymous": True, "answered_at": None, "answers": None}]


async def test_an_interrupted_send_resumes_when_sent_again(make_group, client, member, operator_headers, app, monkeypatch):
    from agora_users.service import announcements

    app.state.store.settings.announcement_batch_size = 1
    ids = [(await member(f"m{i}@example.com", f"M{i}", industry="Energy"))["id"] for i in range(3)]
    group = await make_group(operator_headers, name="Energy", filter={"industry": "Energy"})
    sid = (await make_survey(client, operator_headers))["id"]
    real = announcements._deliver_batch
    calls = 0

    async def crash_on_second(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed")
        await real(*args, **kwargs)

    monkeypatch.setattr(announcements, "_deliver_batch", crash_on_second)
    try:
        r = await client.post(f"{U}/surveys/{sid}/send", headers=operator_headers, json={"group_id": group["id"]})
        assert r.status_code == 500
    except RuntimeError:
        pass
    r = await client.get(f"{U}/surveys/{sid}", headers=operator_headers)
    assert r.json()["status"] == "sending"
    # nobody can answer a survey still being sent
    db = app.state.store.db
    assert await db.inbox.count_documents({}) == 1

    sent = await send(client, operator_headers, sid, group["id"])  # the same send again resumes it
    assert (sent["status"], sent["recipients"]) == ("open", 3)
    assert sorted(r["user_id"] for r in await db.inbox.find().to_list()) == sorted(ids)
    r = await client.post(f"{U}/surveys/{sid}/send", headers=operator_headers, json={"group_id": group["id"]})
    assert r.status_code == 409


async def test_concurrent_answers_are_all_counted_and_a_double_submission_counts_once(make_group, client, member,
                                                                                     operator_headers, app):
    import asyncio

    members = [await member(f"c{i}@example.com", f"C{i}", city="Turku") for i in range(10)]
    group = await make_group(operator_headers, name="Turku", filter={"city": "Turku"})
    sid = (await make_survey(client, operator_headers, anonymous=True))["id"]
    await send(client, operator_headers, sid, group["id"])

    # ten members at once, and the first one three times at once
    answers = [answer(client, m, sid, {"q1": "o1" if i % 2 else "o2", "q3": 1 + i % 5}) for i, m in enumerate(members)]
    answers += [answer(client, members[0], sid, {"q1": "o2", "q3": 1}) for _ in range(2)]
    results = await asyncio.gather(*answers)
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 10 + [409] * 2, [r.text for r in results if r.status_code not in (201, 409)]
    assert all(r.json()["error"]["code"] == "already_answered" for r in results if r.status_code == 409)

    res = (await client.get(f"{U}/surveys/{sid}/results", headers=operator_headers)).json()
    assert (res["responses"], res["recipients"], res["response_rate"]) == (10, 10, 1.0)
    assert [o["count"] for o in res["questions"][0]["options"]] == [5, 5]
    assert [d["count"] for d in res["questions"][2]["scale"]["distribution"]] == [2, 2, 2, 2, 2]
    assert res["questions"][2]["scale"]["mean"] == 3.0
    db = app.state.store.db
    assert await db.survey_responses.count_documents({"survey_id": sid}) == 10
    assert await db.survey_tallies.count_documents({"survey_id": sid}) == 8
