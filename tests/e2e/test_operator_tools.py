"""Issue 14's operator tools end to end, through the gateway, on the session's platform (names of this test's own):

1. Reach members: the operator makes a group of one industry, announces a peer exchange to it; the members of
   that industry (and nobody else) find it in their inbox, reply, and answer a survey; the operator reads the
   replies and the survey's results.
2. A Q&A event that becomes content: questions asked before and during a live online Q&A session, answered
   during it (points reward that) and after it; once the session has ended the thread is searchable with the
   event as a filter, and the expert list of the session's tag matches the accepted answers. The operator marks
   the expert as the tag's expert (shown on the list and on search hits) and invites them to answer a question.
"""

import uuid

import httpx
import pytest
from agora_testing.waiting import wait_until
from e2e.helpers import Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _handled(stack, service: str, event_type: str, group_part: str) -> float:
    """How many events of this type the service's consumer has handled, by its own /metrics."""
    total = 0.0
    for line in httpx.get(f"{stack.service_url(service)}/metrics", timeout=5).text.splitlines():
        if line.startswith("agora_events_consumed_total{") and f'type="{event_type}"' in line and group_part in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _members(stack, first: int, names: list[str], run: str) -> list[Client]:
    return [Client(stack.gateway_url, first + i).register(name, f"ops{i}.{run}@example.org")
            for i, name in enumerate(names)]


def test_a_group_of_one_industry_hears_an_announcement_and_replies(stack):
    run = uuid.uuid4().hex[:8]
    industry = f"Fintech {run}"
    op = Client(stack.gateway_url, 1200).login(stack.operator_email, stack.operator_password)
    alice, bob, carol = _members(stack, 1201, ["Alice Ops", "Bob Ops", "Carol Ops"], run)
    for member, where in ((alice, industry), (bob, industry), (carol, "Retail")):
        member.call("PATCH", "/api/v1/users/me", json={"industry": where})

    group = op.call("POST", "/api/v1/users/groups", json={"name": f"{industry} peers", "filter": {"industry": industry}})
    listed = op.call("GET", f"/api/v1/users/groups/{group['id']}/members")["items"]
    assert {m["user_id"] for m in listed} == {alice.id, bob.id}

    exchange = op.call("POST", "/api/v1/events", json={
        "kind": "peer_exchange", "title": f"{industry} peer exchange", "starts_at": "2030-05-20T10:00:00Z",
        "industry": industry, "online": True})
    sent = op.call("POST", f"/api/v1/users/groups/{group['id']}/announcements", json={
        "title": "Peer exchange next month", "body": "Tell us what you want to discuss.",
        "link": f"/api/v1/events/{exchange['id']}"})
    assert sent["recipients"] == 2

    for member in (alice, bob):
        assert member.call("GET", "/api/v1/users/me/inbox/count")["unread"] == 1
    assert carol.call("GET", "/api/v1/users/me/inbox/count")["unread"] == 0
    item = alice.call("GET", "/api/v1/users/me/inbox", params={"unread": "true"})["items"][0]
    assert item["title"] == "Peer exchange next month" and item["link"].endswith(exchange["id"])
    alice.call("POST", f"/api/v1/users/me/inbox/{item['id']}/read")
    assert alice.call("GET", "/api/v1/users/me/inbox/count")["unread"] == 0

    alice.call("POST", f"/api/v1/users/announcements/{sent['id']}/replies", json={"body": "Fraud detection, please."})
    bob.call("POST", f"/api/v1/users/announcements/{sent['id']}/replies", json={"body": "Open banking APIs."})
    assert carol.raw("POST", f"/api/v1/users/announcements/{sent['id']}/replies",
                     json={"body": "Me too"}).status_code == 403  # not in the group
    replies = op.call("GET", f"/api/v1/users/announcements/{sent['id']}/replies")["items"]
    assert sorted(r["body"] for r in replies) == ["Fraud detection, please.", "Open banking APIs."]
    csv = op.raw("GET", f"/api/v1/users/announcements/{sent['id']}/replies.csv")
    assert csv.status_code == 200 and "Open banking APIs." in csv.text
    assert alice.raw("GET", f"/api/v1/users/announcements/{sent['id']}/replies").status_code == 403

    # and a survey to the same group: one response each, results live, free text as CSV
    survey = op.call("POST", "/api/v1/users/surveys", json={
        "title": "What should the exchange cover?", "anonymous": False, "questions": [
            {"kind": "single_choice", "text": "Which format suits you?", "options": ["Online", "In person"]},
            {"kind": "scale", "text": "How urgent is it for you?", "min": 1, "max": 5},
            {"kind": "free_text", "text": "Anything else?"}]})
    op.call("POST", f"/api/v1/users/surveys/{survey['id']}/send", json={"group_id": group["id"]})
    alice.call("POST", f"/api/v1/users/surveys/{survey['id']}/responses",
               json={"answers": {"q1": "o1", "q2": 5, "q3": "Bring case studies."}})
    bob.call("POST", f"/api/v1/users/surveys/{survey['id']}/responses", json={"answers": {"q1": "o1", "q2": 3}})
    again = bob.raw("POST", f"/api/v1/users/surveys/{survey['id']}/responses", json={"answers": {"q1": "o2", "q2": 1}})
    assert again.status_code == 409
    assert carol.raw("POST", f"/api/v1/users/surveys/{survey['id']}/responses",
                     json={"answers": {"q1": "o2", "q2": 1}}).status_code == 403
    results = op.call("GET", f"/api/v1/users/surveys/{survey['id']}/results")
    assert (results["recipients"], results["responses"], results["response_rate"]) == (2, 2, 1.0)
    choice, scale, text = results["questions"]
    assert {o["label"]: o["count"] for o in choice["options"]} == {"Online": 2, "In person": 0}
    assert scale["scale"]["mean"] == 4.0 and text["free_text"]["answers"] == 1
    export = op.raw("GET", f"/api/v1/users/surveys/{survey['id']}/free-text.csv")
    assert export.status_code == 200 and "Bring case studies." in export.text


def test_a_qa_session_becomes_searchable_content_and_names_its_experts(stack):
    run = uuid.uuid4().hex[:8]
    tag = f"qa{run}"
    op = Client(stack.gateway_url, 1210).login(stack.operator_email, stack.operator_password)
    asker, expert, helper = _members(stack, 1211, ["Asker Qa", "Expert Qa", "Helper Qa"], run)

    session = op.call("POST", "/api/v1/events", json={
        "kind": "qa_session", "title": f"Ask the {tag} maintainers", "topic": "Upgrades", "starts_at": "2030-03-05T12:00:00Z",
        "ends_at": "2030-03-05T13:00:00Z", "online": True, "tags": [tag]})
    op.call("POST", f"/api/v1/events/{session['id']}/publish")

    def ask(title: str) -> dict:  # content learns the session from the events topic: retry until it has
        def attempt():
            r = asker.raw("POST", "/api/v1/content/questions",
                          json={"title": title, "body": "Details inside.", "tags": [tag], "event_id": session["id"]})
            return r.json() if r.status_code == 201 else None

        return wait_until(attempt, timeout=60, interval=0.5, what="content to learn the Q&A session")

    ahead = ask(f"How do {tag} upgrades keep state?")  # sent ahead of the session
    started_before = _handled(stack, "content", "EventStarted", "qa-events")
    op.call("POST", f"/api/v1/events/{session['id']}/start")
    # content knows the session is live once its Q&A-session consumer has handled the start
    wait_until(lambda: _handled(stack, "content", "EventStarted", "qa-events") > started_before, timeout=60,
               what="content to learn the session started")
    asker.call("POST", "/api/v1/content/questions", json={
        "title": f"Is {tag} rolling back safe?", "body": "During the session.", "tags": [tag],
        "event_id": session["id"]})
    answer = expert.call("POST", f"/api/v1/content/questions/{ahead['id']}/answers",
                         json={"body": "They drain and hand over, one replica at a time."})
    asker.call("POST", f"/api/v1/content/questions/{ahead['id']}/accept", json={"answer_id": answer["id"]})
    op.call("POST", f"/api/v1/events/{session['id']}/end")
    wait_until(lambda: asker.raw("POST", "/api/v1/content/questions", json={
        "title": f"Too late for {tag}?", "body": "After it.", "tags": [tag], "event_id": session["id"]}
    ).status_code == 409, timeout=60, what="content to learn the session ended")
    late = helper.call("POST", f"/api/v1/content/questions/{ahead['id']}/answers", json={"body": "Also: backups."})

    # the thread stays as normal content, searchable with the session as a filter
    def found():
        hits = asker.call("GET", "/api/v1/search", params={"q": "upgrades keep state", "event": session["id"]})
        return hits if hits["total"] == 1 else None

    hits = wait_until(found, timeout=60, interval=0.5, what="the session's thread in search")
    assert hits["hits"][0]["id"] == ahead["id"]

    # the tag's experts: the accepted answer's author first
    def experts():
        rows = asker.call("GET", "/api/v1/content/experts", params={"tag": tag})["items"]
        return rows if {r["user_id"] for r in rows} == {expert.id, helper.id} else None

    rows = wait_until(experts, timeout=30, what="the expert list")
    assert rows[0]["user_id"] == expert.id and rows[0]["accepted_answers"] == 1
    assert rows[0]["display_name"] == "Expert Qa"
    assert next(r for r in rows if r["user_id"] == helper.id)["accepted_answers"] == 0

    # points: +15 accepted, +5 answering during the session; the late answer earns no session bonus
    def points(member: Client, expected: int) -> bool:
        return member.call("GET", f"/api/v1/points/users/{member.id}")["total"] == expected

    wait_until(lambda: points(expert, 20), timeout=60, what="the expert's points")
    ledger = expert.call("GET", f"/api/v1/points/users/{expert.id}/ledger")["entries"]
    assert sorted(e["rule_id"] for e in ledger) == ["answer_accepted", "answered_during_event"]
    assert late["id"] and points(helper, 0)

    # the operator makes the expert the community's expert for the tag: on the expert list and on search hits
    op.call("POST", f"/api/v1/users/{expert.id}/titles", json={"title": "Expert", "scope": f"tag:{tag}"})

    def marked():
        row = asker.call("GET", "/api/v1/content/experts", params={"tag": tag})["items"][0]
        hit = asker.call("GET", "/api/v1/search", params={"q": "upgrades keep state", "event": session["id"]})
        accepted = hit["hits"][0].get("accepted_answer") or {}
        return row["expert_titles"] and accepted.get("author_expert_tags") == [tag] and (row, accepted)

    row, accepted = wait_until(marked, timeout=60, interval=0.5, what="the expert title on the list and the hit")
    assert row["expert_titles"] == [{"title": "Expert", "scope": f"tag:{tag}"}]
    assert accepted["author_id"] == expert.id

    # and invites them to answer a new question: an inbox item; the question shows the invitation, then the answer
    fresh = asker.call("POST", "/api/v1/content/questions", json={
        "title": f"Can {tag} run without a control plane?", "body": "Curious.", "tags": [tag]})
    op.call("POST", f"/api/v1/content/questions/{fresh['id']}/invitations",
            json={"user_id": expert.id, "note": "You know this one."})
    item = wait_until(lambda: next((i for i in expert.call("GET", "/api/v1/users/me/inbox")["items"]
                                    if i["kind"] == "answer_invitation"), None), timeout=60, what="the invitation")
    assert fresh["id"] in item["link"]
    invited = asker.call("GET", f"/api/v1/content/questions/{fresh['id']}")["invited"]
    assert [(i["user_id"], i["answered"]) for i in invited] == [(expert.id, False)]
    expert.call("POST", f"/api/v1/content/questions/{fresh['id']}/answers", json={"body": "No: it needs one."})
    invited = asker.call("GET", f"/api/v1/content/questions/{fresh['id']}")["invited"]
    assert [(i["user_id"], i["answered"]) for i in invited] == [(expert.id, True)]
