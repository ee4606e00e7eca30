"""Account deletion erases what the member received and told the operators: inbox rows, mutes, mail records,
replies, Idempotency-Key records and survey links (services/users/README.md "Account deletion")."""

import csv
import io

import pytest

pytestmark = pytest.mark.servers("kafka", "mongo")

U = "/api/v1/users"
QUESTIONS = [{"kind": "single_choice", "text": "Format?", "options": ["Online", "In person"]},
             {"kind": "scale", "text": "Useful?", "min": 1, "max": 5},
             {"kind": "free_text", "text": "Anything else?"}]


async def test_deleting_an_account_erases_inbox_mutes_replies_and_survey_links(client, signup, operator_headers, app):
    ada, bob = await signup("ada@example.com", "Ada"), await signup("bob@example.com", "Bob")
    aid, bid = ada["user"]["id"], bob["user"]["id"]
    for who in (ada, bob):
        assert (await client.patch(f"{U}/me", headers=who["headers"], json={"city": "Riga"})).status_code == 200

    async def post(path: str, body: dict | None = None, headers: dict | None = None, status: int = 201) -> dict:
        r = await client.post(U + path, headers=headers or operator_headers, json=body)
        assert r.status_code == status, r.text
        return r.json()

    riga = await post("/groups", {"name": "Riga", "filter": {"city": "Riga"}})
    other = await post("/groups", {"name": "Everyone", "filter": {}})
    await post(f"/me/muted-groups/{other['id']}", headers=ada["headers"], status=200)
    ann = await post(f"/groups/{riga['id']}/announcements", {"title": "Meetup", "body": "Friday?"})
    await post(f"/announcements/{ann['id']}/replies", {"body": "Ada here: yes"},
               headers={**ada["headers"], "Idempotency-Key": "reply-1"})
    await post(f"/announcements/{ann['id']}/replies", {"body": "Bob: maybe"}, headers=bob["headers"])
    named = await post("/surveys", {"title": "Named", "questions": QUESTIONS})
    anonymous = await post("/surveys", {"title": "Anonymous", "anonymous": True, "questions": QUESTIONS})
    for survey in (named, anonymous):
        await post(f"/surveys/{survey['id']}/send", {"group_id": riga["id"]}, status=200)
        for who, answers in ((ada, {"q1": "o1", "q2": 5, "q3": "Ada's idea"}), (bob, {"q1": "o2", "q2": 3})):
            await post(f"/surveys/{survey['id']}/responses", {"answers": answers}, headers=who["headers"])
    db = app.state.store.db
    await db.mail_deliveries.insert_one({"_id": f"{ann['id']}:{aid}", "announcement_id": ann["id"], "user_id": aid,
                                         "outcome": "sent"})  # as the mail adapter records it
    before = {s["id"]: (await client.get(f"{U}/surveys/{s['id']}/results", headers=operator_headers)).json()
              for s in (named, anonymous)}
    assert await db.inbox.count_documents({"user_id": aid}) == 3
    assert await db.idempotency_keys.count_documents({"_id": {"$gte": f"{aid}:", "$lt": f"{aid};"}}) == 1

    assert (await client.delete(f"{U}/me", headers=ada["headers"])).status_code == 204

    # erased: everything that is about Ada, or that she wrote to the operators
    for collection in ("inbox", "group_mutes", "mail_deliveries", "announcement_replies", "survey_participations"):
        assert await db[collection].count_documents({"user_id": aid}) == 0, collection
    assert await db.idempotency_keys.count_documents({"_id": {"$gte": f"{aid}:", "$lt": f"{aid};"}}) == 0
    assert not [d for d in await db.survey_responses.find().to_list() if aid in str(d)]
    assert not [d for d in await db.survey_responses.find({"survey_id": named["id"]}).to_list() if "Ada" in str(d)]
    # Bob's are untouched
    r = await client.get(f"{U}/announcements/{ann['id']}/replies", headers=operator_headers)
    assert [x["body"] for x in r.json()["items"]] == ["Bob: maybe"]
    assert await db.inbox.count_documents({"user_id": bid}) == 3
    assert await db.survey_participations.count_documents({"user_id": bid}) == 2

    # the named survey: Ada's response is gone; her choices stay in the counts (figures, not people), her free
    # text leaves them with the text
    after = (await client.get(f"{U}/surveys/{named['id']}/results", headers=operator_headers)).json()
    was = before[named["id"]]
    assert (after["responses"], after["recipients"]) == (was["responses"], was["recipients"]) == (2, 2)
    assert after["questions"][:2] == was["questions"][:2]
    assert (was["questions"][2]["answered"], after["questions"][2]["answered"]) == (1, 0)
    r = await client.get(f"{U}/surveys/{named['id']}/free-text.csv", headers=operator_headers)
    assert list(csv.DictReader(io.StringIO(r.text))) == [] and "Ada" not in r.text
    assert await db.survey_responses.count_documents({"survey_id": named["id"]}) == 1
    # the anonymous survey: nothing linked her to her answers, so nothing can (or need) be found: they stay
    after = (await client.get(f"{U}/surveys/{anonymous['id']}/results", headers=operator_headers)).json()
    assert after["questions"] == before[anonymous["id"]]["questions"] and after["responses"] == 2
    assert await db.survey_responses.count_documents({"survey_id": anonymous["id"]}) == 2
    # the announcement keeps its totals
    r = await client.get(f"{U}/announcements/{ann['id']}", headers=operator_headers)
    assert r.json()["recipients"] == 2
