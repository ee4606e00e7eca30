"""Competitions: submissions, judges' scores and the final ranking, published as CompetitionRanked."""

import pytest

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_submissions_scores_and_final_ranking(api, db):
    event = await api.open_event(kind="competition", title="Operator hackathon", city=None, venue=None,
                                 judges=["judge-1", "judge-2"])
    eid = event["id"]
    subs = {}
    for user in ("ann", "ben", "cat", "dan"):
        await api.register(eid, user)
        r = await api.client.post(f"/api/v1/events/{eid}/submissions",
                                  json={"title": f"{user}'s operator", "url": f"https://example.org/{user}"},
                                  **api.as_user(user))
        assert r.status_code == 201, r.text
        subs[user] = r.json()["id"]
    dup = await api.client.post(f"/api/v1/events/{eid}/submissions", json={"title": "again"}, **api.as_user("ann"))
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_submitted"
    outsider = await api.client.post(f"/api/v1/events/{eid}/submissions", json={"title": "x"},
                                     **api.as_user("eve"))
    assert outsider.status_code == 403

    await api.act(eid, "close-registration", "start")
    scores = [("judge-1", "ann", 80), ("judge-2", "ann", 90), ("judge-1", "ben", 95), ("judge-2", "ben", 75),
              ("judge-1", "cat", 60), ("judge-1", "ann", 86)]  # judge-1 re-scores ann: replaces 80
    for judge, user, value in scores:
        r = await api.client.post(f"/api/v1/events/{eid}/scores",
                                  json={"submission_id": subs[user], "score": value}, **api.as_user(judge))
        assert r.status_code == 200, r.text
    not_judge = await api.client.post(f"/api/v1/events/{eid}/scores",
                                      json={"submission_id": subs["ann"], "score": 100}, **api.as_user("ben"))
    assert not_judge.status_code == 403
    out_of_range = await api.client.post(f"/api/v1/events/{eid}/scores",
                                         json={"submission_id": subs["ann"], "score": 101}, **api.as_user("judge-1"))
    assert out_of_range.status_code == 422
    early = await api.client.post(f"/api/v1/events/{eid}/rank", **api.op)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_ended"

    await api.act(eid, "end")
    r = await api.client.post(f"/api/v1/events/{eid}/rank", **api.op)
    assert r.status_code == 200, r.text
    ranking = r.json()
    assert [(p["user_id"], p["place"], p["score"]) for p in ranking["ranking"]] == [
        ("ann", 1, 88.0), ("ben", 2, 85.0), ("cat", 3, 60.0)]
    assert ranking["unscored"] == [subs["dan"]]
    assert (await api.client.get(f"/api/v1/events/{eid}/ranking")).json()["ranking"] == ranking["ranking"]
    again = await api.client.post(f"/api/v1/events/{eid}/rank", **api.op)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_ranked"
    late = await api.client.post(f"/api/v1/events/{eid}/scores", json={"submission_id": subs["dan"], "score": 99},
                                 **api.as_user("judge-1"))
    assert late.status_code == 409

    listed = (await api.client.get(f"/api/v1/events/{eid}/submissions", **api.as_user("judge-2"))).json()
    assert {s["user_id"]: len(s["scores"]) for s in listed} == {"ann": 2, "ben": 2, "cat": 1, "dan": 0}

    got = await api.events(until=lambda es: any(e.type == "CompetitionRanked" for e in es))
    ranked = next(e for e in got if e.type == "CompetitionRanked")
    assert ranked.data["ranking"] == [{"user_id": "ann", "place": 1, "score": 88.0},
                                      {"user_id": "ben", "place": 2, "score": 85.0},
                                      {"user_id": "cat", "place": 3, "score": 60.0}]
    assert ranked.data["kind"] == "competition" and ranked.version == max(e.version for e in got)
    assert sum(e.type == "SubmissionReceived" for e in got) == 4
    scored = [e for e in got if e.type == "SubmissionScored"]
    assert len(scored) == 6
    assert (scored[-1].data["author_id"], scored[-1].data["judge_id"], scored[-1].data["score"]) == ("ann", "judge-1", 86)
    assert scored[-1].actor == "judge-1"


async def test_unknown_submission_and_wrong_kind(api):
    event = await api.open_event(kind="competition", title="C", city=None, venue=None, judges=["j"])
    await api.act(event["id"], "close-registration")
    r = await api.client.post(f"/api/v1/events/{event['id']}/scores", json={"submission_id": "nope", "score": 5},
                              **api.as_user("j"))
    assert r.status_code == 404
    meetup = await api.open_event()
    r = await api.client.post(f"/api/v1/events/{meetup['id']}/submissions", json={"title": "x"}, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_kind"
