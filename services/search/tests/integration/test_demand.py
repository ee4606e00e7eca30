"""The demand report against real Kafka and Elasticsearch: zero-hit searches recorded without the user, counted and
bounded; the report's sections computed from the questions, answers, votes and tag follows the test publishes."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from agora_common.auth import issue_token
from agora_common.events import content as ev
from agora_common.events.users import TagFollowed, TagUnfollowed, UserDeleted
from agora_common.topics import Topics
from agora_search.adapters.demand import ZeroHits
from agora_search.domain.query import SearchParams
from agora_search.service.demand import ZeroHitRecorder
from agora_testing.events import publish_versioned
from agora_testing.waiting import eventually
from elasticsearch import AsyncElasticsearch

pytestmark = pytest.mark.servers("kafka", "elasticsearch")

DEMAND = "/api/v1/search/demand"


@pytest.fixture
async def es(settings):
    client = AsyncElasticsearch(settings.elasticsearch_url)
    yield client
    await client.close()


def headers_of(settings, user_id: str, roles: list[str]) -> dict:
    token, _ = issue_token(settings, user_id=user_id, roles=roles, kind="access")
    return {"Authorization": f"Bearer {token}"}


async def report_until(client, headers, predicate, *, timeout: float = 30.0, **params) -> dict:
    async def check():
        r = await client.get(DEMAND, params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert predicate(body), body
        return body

    return await eventually(check, timeout=timeout, interval=0.3)


async def test_searches_that_found_nothing_are_counted_without_the_user(api, client, content, settings, es,
                                                                        operator_headers):
    await content.ask("q1", "Kafka consumer lag", tags=["kafka"])
    await api.wait_ids(["q1"])
    member = headers_of(settings, "member-7", ["member"])
    for q in ("Flux capacitor", "  flux   CAPACITOR ", "ＦＬＵＸ capacitor"):
        r = await client.get("/api/v1/search", params={"q": q}, headers=member)
        assert r.status_code == 200 and r.json()["total"] == 0
    await client.get("/api/v1/search", params={"q": "flux capacitor", "tags": "KAFKA"}, headers=member)
    # not counted: junk, personal data, a filter that explains the empty result, a search that found something
    for params in ({"q": "x"}, {"q": "?!?"}, {"q": "my phone 13812345678"}, {"q": "flux capacitor", "author": "u9"},
                   {"q": "flux capacitor", "answered": "false"}, {"q": "kafka"}, {}):
        r = await client.get("/api/v1/search", params=params)
        assert r.status_code == 200

    def rows(body):
        return [(r["query"], r["tags"], r["sig_id"], r["count"]) for r in body["zero_hit_searches"]]

    body = await report_until(client, operator_headers,
                              lambda b: rows(b) == [("flux capacitor", [], None, 3),
                                                    ("flux capacitor", ["kafka"], None, 1)])
    row = body["zero_hit_searches"][0]
    assert row["first_seen"] <= row["last_seen"]
    assert row["draft"]["kind"] == "qa_session" and row["draft"]["topic"] == "flux capacitor"
    assert "3 times" in row["draft"]["description"]
    # per tag: searched within the tag, or naming it
    body = await report_until(client, operator_headers, lambda b: len(b["zero_hit_searches"]) == 1, tag="kafka")
    assert rows(body) == [("flux capacitor", ["kafka"], None, 1)]

    # what is stored: the normalised query, its filters, a count and two times; never who searched
    await es.indices.refresh(index=settings.zero_hits_index)
    stored = (await es.search(index=settings.zero_hits_index, size=100))["hits"]["hits"]
    assert len(stored) == 2
    for doc in stored:
        assert set(doc["_source"]) == {"query", "tags", "sig_id", "count", "first_seen", "last_seen"}
        assert "member-7" not in json.dumps(doc)

    # once the community writes about it, it leaves the report (the search finds something now)
    await content.ask("q2", "Building a flux capacitor at home", tags=["diy"])
    await api.wait_ids(["q2"], q="flux capacitor")
    body = await report_until(client, operator_headers, lambda b: len(b["zero_hit_searches"]) == 1)
    assert rows(body) == [("flux capacitor", ["kafka"], None, 1)]  # within #kafka it still finds nothing


async def test_zero_hit_storage_is_bounded(settings, es):
    store = ZeroHits(es, settings.zero_hits_index, max_queries=10, retention=timedelta(days=30))
    await store.ensure()
    recorder = ZeroHitRecorder(store, per_second=1000)
    now = datetime.now(UTC)
    for _ in range(3):
        await recorder.record("popular query", (), None, now=now)
    for i in range(15):
        await recorder.record(f"one-off {i}", (), None, now=now + timedelta(seconds=i))
    await es.indices.refresh(index=store.index)
    assert await store.size() <= 10
    kept = await store.top(tag=None, sig=None, size=20)
    queries = [k["query"] for k in kept]
    # the least searched and least recent gave way; the often searched stays
    assert kept[0]["query"] == "popular query" and kept[0]["count"] == 3
    assert "one-off 14" in queries and "one-off 0" not in queries

    # not seen for longer than the retention: forgotten (a recorder expires them once an hour, on its first
    # recording too)
    roomy = ZeroHits(es, f"{settings.zero_hits_index}.expiry", max_queries=10, retention=timedelta(days=30))
    await roomy.ensure()
    await roomy.record("x1", query="stale query", tags=(), sig=None, now=now - timedelta(days=31))
    await roomy.record("x2", query="older query", tags=(), sig=None, now=now - timedelta(days=29))
    assert await roomy.expire(now) == 1
    await ZeroHitRecorder(roomy, per_second=1000).record("fresh query", (), None, now=now + timedelta(days=2))
    assert [k["query"] for k in await roomy.top(tag=None, sig=None, size=20)] == ["fresh query"]

    # a flood: beyond the per-second budget recordings are dropped before they cost anything
    limited = ZeroHitRecorder(store, per_second=2)
    taken = [limited.note(SearchParams(q=f"burst {i}")) for i in range(10)]
    await limited.drain()
    assert taken.count(True) == 2 and limited.dropped == 8



async def test_the_report_is_computed_from_what_members_did(client, content, settings, operator_headers):
    now = datetime.now(UTC)
    before = now - timedelta(days=10)  # the previous 7-day period

    async def ask(qid, title, tags, *, days_ago, sig=None):
        await content.send(ev.QuestionAsked(post_id=qid, author_id="u1", tags=tags, title=title, body="",
                                            created_at=now - timedelta(days=days_ago), sig_id=sig))

    async def answer(aid, qid, tags, author):  # like the content service: an answer carries its question's tags
        await content.send(ev.AnswerPosted(post_id=aid, question_id=qid, author_id=author, tags=tags, body="b",
                                           question_author_id="u1", created_at=now))

    async def vote_before(pid, voter):  # a vote cast in the previous period
        envelope = content.envelope(ev.PostVoted(post_id=pid, post_type="question", author_id="u1", voter_id=voter,
                                                 value=1, score=1))
        await content.send_envelopes([envelope.model_copy(update={"time": before})])

    await ask("q1", "Kafka consumer group rebalances forever", ["kafka"], days_ago=20)
    await ask("q2", "Kafka exactly-once semantics in practice", ["kafka"], days_ago=5)
    await ask("q3", "Which storage class for databases", ["storage"], days_ago=3, sig="sig-storage")
    await ask("q4", "Python packaging in 2026", ["python"], days_ago=2)
    await answer("a1", "q2", ["kafka"], "u2")
    await answer("a2", "q4", ["python"], "u3")
    await answer("a3", "q4", ["python"], "spammer")
    await content.send(ev.PostHidden(post_id="a3", post_type="answer", question_id="q4", author_id="spammer",
                                     moderator_id="mod"))
    await content.vote("q1", 1)
    for voter in ("v1", "v2"):
        await vote_before("q4", voter)  # python was as busy before
    await vote_before("q1", "v4")
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users,
        (1, TagFollowed(user_id="u1", tag="kafka")), (2, TagFollowed(user_id="u1", tag="storage")),
        (3, TagFollowed(user_id="u1", tag="python")),
        (1, TagFollowed(user_id="u2", tag="kafka")), (2, TagFollowed(user_id="u2", tag="storage")),
        (3, TagUnfollowed(user_id="u2", tag="storage")),
        (2, TagFollowed(user_id="u2", tag="storage")),  # late and older: changes nothing
        (1, TagFollowed(user_id="u3", tag="kafka")), (2, TagFollowed(user_id="u3", tag="storage")),
        (1, TagFollowed(user_id="u4", tag="kafka")), (1, TagFollowed(user_id="u5", tag="kafka")),
        (1, TagFollowed(user_id="u6", tag="storage")), (2, UserDeleted(user_id="u6")),
    )

    def sections(body):
        return ([(r["question_id"], r["tags"]) for r in body["unanswered"]],
                [(r["tag"], r["followers"], r["answers"], r["answerers"], r["ratio"]) for r in body["under_served_tags"]],
                [(r["tag"], r["this_period"], r["previous_period"], r["growth"], r["questions"], r["answers"], r["votes"])
                 for r in body["trending_tags"]])

    expected = (
        [("q1", ["kafka"]), ("q3", ["storage"])],  # oldest first; q2 and q4 have answers
        # kafka: 5 followers, 1 answer (gap 5/2); storage: 2 followers (u2 unfollowed, u6 deleted), no answer (2/1);
        # python: as many answers (the hidden one does not count) as followers
        [("kafka", 5, 1, 1, 0.2), ("storage", 2, 0, 0, 0.0)],
        # kafka: 2 questions, 1 answer, 1 vote now against 1 vote before; python: a question and an answer now (not
        # the hidden one) against 2 votes before: no growth
        [("kafka", 4, 1, 3.0, 2, 1, 1)],
    )
    body = await report_until(client, operator_headers, lambda b: sections(b) == expected)
    assert body["period_days"] == 7 and body["tag"] is None and body["sig"] is None
    first = body["unanswered"][0]
    assert 19.9 <= first["age_days"] <= 20.1 and first["title"] == "Kafka consumer group rebalances forever"
    draft = first["draft"]
    assert draft["kind"] == "qa_session" and draft["title"] == "Q&A: Kafka consumer group rebalances forever"
    assert draft["tags"] == ["kafka"] and draft["online"] is True and "q1" in draft["description"]

    # one SIG: its questions; the tags of its posts weighed by their followers; its own activity
    body = await report_until(client, operator_headers, lambda b: b["unanswered"] != [], sig="sig-storage")
    assert sections(body) == ([("q3", ["storage"])], [("storage", 2, 0, 0, 0.0)], [])
    assert body["unanswered"][0]["draft"]["sig_id"] == "sig-storage"

    # one tag, with peer-exchange drafts for one industry and city, at a chosen time
    body = await report_until(client, operator_headers, lambda b: b["unanswered"] != [], tag="KAFKA", limit=5,
                              draft_kind="peer_exchange", industry="Finance", city="Shanghai",
                              starts_at="2030-03-05T12:00:00+08:00")
    assert sections(body) == ([("q1", ["kafka"])], [("kafka", 5, 1, 1, 0.2)], [("kafka", 4, 1, 3.0, 2, 1, 1)])
    draft = body["under_served_tags"][0]["draft"]
    assert {k: draft[k] for k in ("kind", "title", "topic", "tags", "industry", "city", "online")} == {
        "kind": "peer_exchange", "title": "Peer exchange: kafka", "topic": "kafka", "tags": ["kafka"],
        "industry": "Finance", "city": "Shanghai", "online": False}
    assert draft["starts_at"] == "2030-03-05T04:00:00Z" and draft["ends_at"] == "2030-03-05T06:00:00Z"
    assert "5 members follow #kafka" in draft["description"]

    # limit
    body = await report_until(client, operator_headers, lambda b: len(b["unanswered"]) == 1, limit=1)
    assert len(body["under_served_tags"]) == 1


async def test_operators_only_and_bad_input_is_a_clear_422(client, settings, operator_headers):
    assert (await client.get(DEMAND)).status_code == 401
    r = await client.get(DEMAND, headers=headers_of(settings, "member-1", ["member"]))
    assert r.status_code == 403
    for params, field in (({"draft_kind": "peer_exchange"}, "industry"), ({"period_days": 46}, "period_days"),
                          ({"tag": "  "}, "tag")):
        r = await client.get(DEMAND, params=params, headers=operator_headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == field
    for params in ({"limit": 0}, {"limit": 101}, {"draft_kind": "meetup"}, {"starts_at": "soon"},
                   {"starts_at": "2300-01-01T00:00:00Z"}, {"tags": "kafka"}):
        r = await client.get(DEMAND, params=params, headers=operator_headers)
        assert r.status_code == 422, (params, r.text)
    assert r.json()["error"]["code"] == "unknown_query_parameter"
