"""Issue 14's demand report, through the gateway: what members did (follow a tag, ask without an answer, search in
vain) shows in the operator's report, and a row's draft becomes a draft event in one call to the events API."""

import uuid

import pytest
from agora_testing.waiting import wait_until
from e2e.helpers import Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_demand_row_becomes_a_draft_event_in_one_call(stack):
    op = Client(stack.gateway_url, 1100).login(stack.operator_email, stack.operator_password)
    # a tag of this test's own (the session's stack is shared), in letters only: the zero-hit search below names
    # it, and a query with 7 digits in a row is never counted (it may be a phone number), which a hex id's 8
    # characters were about once in 20 runs
    tag = "demand" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    members = [Client(stack.gateway_url, 1101 + i).register(f"Demand {i}", f"demand{i}.{tag}@example.org")
               for i in range(2)]
    for member in members:
        member.call("PUT", f"/api/v1/users/me/following/tags/{tag}")
    question = members[0].call("POST", "/api/v1/content/questions", json={
        "title": "How do I size a Kafka cluster for bursts?", "body": "Peaks are ten times the average.",
        "tags": [tag]})
    nothing = f"zorblax {tag}"  # found nowhere; searched twice within the tag
    for member in members:
        assert member.call("GET", "/api/v1/search", params={"q": nothing, "tags": tag})["total"] == 0

    seen: dict = {}  # the last report's rows, for the failure message

    def report():
        body = op.call("GET", "/api/v1/search/demand", params={"tag": tag})
        seen["unanswered"] = [r["question_id"] for r in body["unanswered"]]
        seen["zero"] = [(r["query"], r["count"]) for r in body["zero_hit_searches"]]
        seen["under"] = [(r["tag"], r["followers"], r["answers"]) for r in body["under_served_tags"]]
        expected = {"unanswered": [question["id"]], "zero": [(nothing, 2)], "under": [(tag, 2, 0)]}
        return body if seen == expected else None

    try:
        body = wait_until(report, timeout=60, interval=0.5, what="the demand report")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; its last rows: {seen}") from None

    # a Q&A session on the question nobody answered: the row's draft, posted as it is
    event = op.call("POST", "/api/v1/events", json=body["unanswered"][0]["draft"])
    assert (event["status"], event["kind"], event["tags"]) == ("draft", "qa_session", [tag])
    assert event["title"] == "Q&A: How do I size a Kafka cluster for bursts?"
    # a peer exchange for one industry in one city, from the under-served tag
    body = op.call("GET", "/api/v1/search/demand", params={"tag": tag, "draft_kind": "peer_exchange",
                                                           "industry": "Finance", "city": "Shanghai"})
    event = op.call("POST", "/api/v1/events", json=body["under_served_tags"][0]["draft"])
    assert (event["status"], event["kind"], event["industry"], event["city"], event["online"]) == \
        ("draft", "peer_exchange", "Finance", "Shanghai", False)
    # and the zero-hit search's
    event = op.call("POST", "/api/v1/events", json=body["zero_hit_searches"][0]["draft"])
    assert event["status"] == "draft" and event["kind"] == "peer_exchange"
    # members cannot read the report
    assert members[0].raw("GET", "/api/v1/search/demand").status_code == 403
