"""The vertical slice of issue 2, through the gateway only, against real servers:
register -> ask -> answer -> accept -> events on Kafka -> points credited -> question searchable."""

import pytest
from agora_testing.events import read_events
from agora_testing.waiting import wait_until
from e2e.helpers import register

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


async def test_question_answer_accept_reaches_points_and_search(stack, gateway):
    asker = register(gateway, "Alice Asker")
    answerer = register(gateway, "Bob Answerer")

    r = gateway.post(
        "/api/v1/content/questions",
        headers=asker["headers"],
        json={"title": "How to configure persistent storage for KubeSphere 存储配置",
              "body": "I installed KubeSphere on Kubernetes; which storage class should I use?",
              "tags": ["kubesphere", "storage"]},
    )
    assert r.status_code == 201, r.text
    question = r.json()

    r = gateway.post(f"/api/v1/content/questions/{question['id']}/answers", headers=answerer["headers"],
                     json={"body": "Install OpenEBS local PV and mark it as the default storage class."})
    assert r.status_code == 201, r.text
    answer = r.json()

    r = gateway.post(f"/api/v1/content/questions/{question['id']}/accept", headers=asker["headers"],
                     json={"answer_id": answer["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["accepted_answer_id"] == answer["id"]

    # the events reached Kafka, once each, with the ids the API returned (order holds per aggregate only:
    # the question and the answer are different aggregates, keyed to different partitions)
    # (other tests share the stack and the topic: wait for this test's acceptance, not any)
    topic = f"{stack.topic_prefix}content"

    def ours(evs):
        return sorted((e.type, e.subject) for e in evs if e.data.get("post_id") in (question["id"], answer["id"]))

    expected = sorted([("QuestionAsked", question["id"]), ("AnswerPosted", answer["id"]),
                       ("AnswerAccepted", answer["id"])])
    events = await read_events(stack.servers["kafka"].url, topic,
                               until=lambda evs: len(ours(evs)) >= len(expected), timeout=30)
    assert ours(events) == expected
    answer_versions = [e.version for e in events if e.subject == answer["id"]]
    assert answer_versions == sorted(answer_versions)

    # the points processor credited the answerer (+15) and the asker (+2) under the default rules
    def points(user):
        r = gateway.get(f"/api/v1/points/users/{user['id']}")
        return r.json()["total"] if r.status_code == 200 else None

    wait_until(lambda: points(answerer) == 15, what="answerer's points", timeout=60)
    wait_until(lambda: points(asker) == 2, what="asker's points", timeout=60)

    # the search service indexed the question: an English word and a Chinese word both find it
    def found(q):
        r = gateway.get("/api/v1/search", params={"q": q})
        return r.status_code == 200 and question["id"] in [h["id"] for h in r.json()["hits"]]

    wait_until(lambda: found("persistent storage"), what="English search", timeout=60)
    wait_until(lambda: found("存储"), what="Chinese search", timeout=60)


def test_bad_input_gets_a_clear_json_error_through_the_gateway(gateway):
    r = gateway.post("/api/v1/users/auth/register", json={"email": "not-an-email"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_input"
    r = gateway.post("/api/v1/content/questions", json={"title": "no token"})
    assert r.status_code == 401
    assert "error" in r.json()
