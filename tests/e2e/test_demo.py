"""The demo community `make run` loads (issue 14: the demo shows each feature): it loads through the gateway on a
fresh platform, and what it made is there: members and content, events, and the operator tools."""

import pytest
from agora_devservers.demo import load_demo
from agora_testing.waiting import wait_until
from e2e.helpers import Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_the_demo_community_loads_and_shows_the_operator_tools(new_stack):
    stack = new_stack()
    summary = load_demo(stack.gateway_url, operator_email=stack.operator_email, operator_password=stack.operator_password)
    assert "12 members" in summary and "1 survey" in summary and "1 Q&A session" in summary, summary
    op = Client(stack.gateway_url, 1300).login(stack.operator_email, stack.operator_password)
    group = op.call("GET", "/api/v1/users/groups")["items"][0]
    announcement = next(a for a in op.call("GET", f"/api/v1/users/groups/{group['id']}/announcements")["items"]
                        if a["title"] == "CI/CD peer exchange next month")
    assert op.call("GET", f"/api/v1/users/announcements/{announcement['id']}/replies")["items"]
    survey = op.call("GET", "/api/v1/users/surveys")["items"][0]
    results = op.call("GET", f"/api/v1/users/surveys/{survey['id']}/results")
    assert results["responses"] >= 1 and results["recipients"] >= results["responses"]
    session = next(e for e in op.call("GET", "/api/v1/events", params={"kind": "qa_session"})["items"]
                   if e["title"] == "Ask the installer maintainers")
    asked = op.call("GET", "/api/v1/content/questions", params={"event_id": session["id"]})["items"]
    assert [q["title"] for q in asked] == ["Can the offline installer mirror Helm charts too?"]
    experts = wait_until(lambda: op.call("GET", "/api/v1/content/experts", params={"tag": "kubesphere"})["items"],
                         timeout=60, what="experts of the demo's tags")
    assert experts[0]["display_name"]
    # the operator's demand report has something in each of its first sections
    report = wait_until(lambda: (r := op.call("GET", "/api/v1/search/demand"))["unanswered"] and r["zero_hit_searches"]
                        and r, timeout=60, what="the demand report")
    assert report["unanswered"][0]["title"] == "Air-gapped installation: how to mirror the images?"
    invited = op.call("GET", f"/api/v1/content/questions/{report['unanswered'][0]['question_id']}")["invited"]
    assert len(invited) == 1 and not invited[0]["answered"]
