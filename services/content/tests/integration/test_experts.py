"""Expert discovery on the real servers: the expert list of a tag or SIG matches the answers, acceptances and votes
the test made; names and titles come from the users topic; suspended and deleted members leave the list."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events.users import (
    HonorTitleGranted,
    HonorTitleRevoked,
    ProfileUpdated,
    SigCreated,
    UserDeleted,
    UserRegistered,
    UserReinstated,
    UserSuspended,
)
from agora_testing.events import publish_versioned
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


@pytest.fixture
def settings(agora_env):
    from agora_content.config import Settings

    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=True,
                    consume_events=False)



async def experts(client, **params):
    r = await client.get(f"{API}/experts", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def table(page):
    return [(e["user_id"], e["answers"], e["accepted_answers"], e["answer_score"]) for e in page["items"]]


async def asked_ago(app, ask, seconds, **kwargs):
    """A question as if asked `seconds` ago (so the time to first answer is known)."""
    q = await ask(**kwargs)
    store = app.state.store
    await store.posts.update_one({"_id": q["id"]},
                                 {"$set": {"created_at": datetime.now(UTC) - timedelta(seconds=seconds)}})
    return q


async def test_the_expert_list_of_a_tag_matches_the_answers_made(client, auth, app, ask, answer):
    q1 = await asked_ago(app, ask, 1000, tags=["kubernetes"])
    q2 = await asked_ago(app, ask, 50, tags=["kubernetes", "helm"])
    q3 = await asked_ago(app, ask, 100, tags=["kubernetes"])
    b1 = await answer(q1["id"], "bob")      # first on q1 (~1000 s)
    c1 = await answer(q1["id"], "carol")    # second: no timing
    c2 = await answer(q2["id"], "carol")    # first on q2 (~50 s)
    b3 = await answer(q3["id"], "bob")      # first on q3 (~100 s)
    await answer(q3["id"], "alice")          # the asker's own answer: never a first answer
    d3 = await answer(q3["id"], "dave")
    accepted = {q1["id"]: b1, q2["id"]: c2, q3["id"]: b3}
    for q, a in accepted.items():
        r = await client.post(f"{API}/questions/{q}/accept", headers=auth("alice"), json={"answer_id": a["id"]})
        assert r.status_code == 200, r.text
    for voter, post, value in [("erin", b1, 1), ("frank", b1, 1), ("erin", c1, 1), ("erin", c2, 1),
                               ("frank", c2, 1), ("grace", c2, 1), ("erin", d3, -1)]:
        assert (await client.put(f"{API}/posts/{post['id']}/vote", headers=auth(voter),
                                 json={"value": value})).status_code == 200

    by_accepted = await experts(client, tag="kubernetes")
    # bob: 2 answers, 2 accepted, score 2; carol: 2, 1 accepted, score 4; alice 1; dave 1 with -1
    assert table(by_accepted) == [("bob", 2, 2, 2), ("carol", 2, 1, 4), ("alice", 1, 0, 0), ("dave", 1, 0, -1)]
    assert by_accepted["next_cursor"] is None
    rows = {e["user_id"]: e for e in by_accepted["items"]}
    assert rows["bob"]["first_answers"] == 2 and 549 <= rows["bob"]["median_first_answer_seconds"] <= 552
    assert rows["carol"]["first_answers"] == 1 and 49 <= rows["carol"]["median_first_answer_seconds"] <= 52
    assert rows["alice"]["first_answers"] == 0 and rows["alice"]["median_first_answer_seconds"] is None
    assert rows["dave"]["last_active_at"] >= rows["bob"]["last_active_at"]
    assert table(await experts(client, tag="kubernetes", sort="score"))[:2] == [("carol", 2, 1, 4), ("bob", 2, 2, 2)]
    assert [e["user_id"] for e in (await experts(client, tag="Kubernetes", sort="speed"))["items"]] == ["carol", "bob"]
    assert (await experts(client, tag="kubernetes", sort="recent"))["items"][0]["user_id"] == "dave"
    assert table(await experts(client, tag="helm")) == [("carol", 1, 1, 3)]

    # one page at a time: the same rows in the same order
    page1 = await experts(client, tag="kubernetes", limit=3)
    page2 = await experts(client, tag="kubernetes", limit=3, cursor=page1["next_cursor"])
    assert table(page1) + table(page2) == table(by_accepted) and page2["next_cursor"] is None

    # the acceptance moves, an answer is deleted, another hidden, a question re-tagged: the aggregates follow
    r = await client.post(f"{API}/questions/{q1['id']}/accept", headers=auth("alice"), json={"answer_id": c1["id"]})
    assert r.status_code == 200
    assert (await client.delete(f"{API}/posts/{b3['id']}", headers=auth("bob"))).status_code == 200
    assert (await client.post(f"{API}/moderation/posts/{d3['id']}/hide", headers=auth("mod", "moderator"),
                              json={})).status_code == 200
    r = await client.patch(f"{API}/questions/{q2['id']}", headers=auth("alice"), json={"tags": ["helm"]})
    assert r.status_code == 200, r.text
    assert table(await experts(client, tag="kubernetes")) == [("carol", 1, 1, 1), ("bob", 1, 0, 2),
                                                              ("alice", 1, 0, 0)]
    rows = {e["user_id"]: e for e in (await experts(client, tag="kubernetes"))["items"]}
    assert rows["bob"]["first_answers"] == 1 and 999 <= rows["bob"]["median_first_answer_seconds"] <= 1002
    assert rows["carol"]["first_answers"] == 0
    # restored and unhidden: counted again
    assert (await client.post(f"{API}/posts/{b3['id']}/restore", headers=auth("bob"))).status_code == 200
    assert (await client.post(f"{API}/moderation/posts/{d3['id']}/unhide", headers=auth("mod", "moderator"))
            ).status_code == 200
    assert table(await experts(client, tag="kubernetes")) == [  # b3's acceptance went with its deletion
        ("carol", 1, 1, 1), ("bob", 2, 0, 2), ("alice", 1, 0, 0), ("dave", 1, 0, -1)]
    # deleting the question takes all its answers out
    assert (await client.delete(f"{API}/posts/{q1['id']}", headers=auth("alice"))).status_code == 200
    assert table(await experts(client, tag="kubernetes")) == [("alice", 1, 0, 0), ("bob", 1, 0, 0),
                                                              ("dave", 1, 0, -1)]


async def test_concurrent_votes_and_answers_give_exact_totals(client, auth, ask, answer):
    q1, q2 = await ask(tags=["kafka", "k8s"]), await ask(tags=["kafka"])
    a1, a2 = await answer(q1["id"], "bob"), await answer(q2["id"], "bob")
    voters = [f"voter{i}" for i in range(8)]
    # both of bob's answers voted at once by everyone (twice each: one vote per member), and answers posted meanwhile
    votes = [client.put(f"{API}/posts/{a['id']}/vote", headers=auth(v), json={"value": 1})
             for a in (a1, a2) for v in voters] * 2
    more = [client.post(f"{API}/questions/{q1['id']}/answers", headers=auth(f"helper{i}"), json={"body": "+1"})
            for i in range(4)]
    responses = await asyncio.gather(*votes, *more)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses if r.status_code >= 300]
    page = await experts(client, tag="kafka")
    assert table(page)[0] == ("bob", 2, 0, 16) and len(page["items"]) == 5
    assert table(await experts(client, tag="k8s"))[0] == ("bob", 1, 0, 8)
    rows = {e["user_id"]: e for e in page["items"]}
    assert rows["bob"]["first_answers"] == 2 and all(rows[f"helper{i}"]["first_answers"] == 0 for i in range(4))


async def test_bad_requests_are_clear_4xx(client, ask, answer):
    q = await ask(tags=["k8s"])
    await answer(q["id"], "bob")
    await answer((await ask(tags=["helm"]))["id"], "carol")
    cases = [({}, 422, "scope_required"), ({"tag": "k8s", "sig": "s"}, 422, "scope_required"),
             ({"tag": "k8s", "sort": "random"}, 422, None), ({"tag": "no way!"}, 422, "invalid_tag"),
             ({"tag": "k8s", "limit": 0}, 422, None), ({"tag": "k8s", "cursor": "garbage"}, 422, "invalid_cursor"),
             ({"sig": "no-such-sig"}, 404, "sig_not_found")]
    for params, status, code in cases:
        r = await client.get(f"{API}/experts", params=params)
        assert r.status_code == status, (params, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (params, r.text)
    # a cursor of another tag's list is refused
    await answer((await ask(tags=["k8s"]))["id"], "dave")
    cursor = (await experts(client, tag="k8s", limit=1))["next_cursor"]
    r = await client.get(f"{API}/experts", params={"tag": "helm", "cursor": cursor})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    assert (await experts(client, tag="never-used")) == {"items": [], "next_cursor": None}


async def test_a_sig_counts_its_questions_and_its_tags_including_answers_before_it(
        client, auth, ask, answer, settings, topics):
    before = await ask(tags=["ceph"])
    await answer(before["id"], "bob")  # before content knows the SIG
    assert (await client.get(f"{API}/experts", params={"sig": "sig-storage"})).status_code == 404
    await publish_versioned(settings.kafka, topics.users, (1, SigCreated(sig_id="sig-storage", name="Storage", slug="storage",
                                                   tags=["ceph", "longhorn"], created_by="op")))

    async def counted_before():
        assert table(await experts(client, sig="sig-storage")) == [("bob", 1, 0, 0)]

    await eventually(counted_before, timeout=40)
    in_sig = await ask(tags=["kubernetes"], sig_id="sig-storage")  # in the SIG, without its tags
    a = await answer(in_sig["id"], "carol")
    await client.post(f"{API}/questions/{in_sig['id']}/accept", headers=auth("alice"), json={"answer_id": a["id"]})
    await answer((await ask(tags=["longhorn", "backup"]))["id"], "carol")
    await answer((await ask(tags=["kubernetes"]))["id"], "dave")  # neither: not in the SIG
    assert table(await experts(client, sig="sig-storage")) == [("carol", 2, 1, 0), ("bob", 1, 0, 0)]
    # a replayed SigCreated recounts to the same totals
    await publish_versioned(settings.kafka, topics.users, (1, SigCreated(sig_id="sig-storage", name="Storage", slug="storage",
                                                   tags=["ceph", "longhorn"], created_by="op")),
                  (1, SigCreated(sig_id="sig-other", name="Other", slug="other", tags=["x"], created_by="op")))

    async def other_known():
        assert (await experts(client, sig="sig-other"))["items"] == []

    await eventually(other_known, timeout=40)
    assert table(await experts(client, sig="sig-storage")) == [("carol", 2, 1, 0), ("bob", 1, 0, 0)]


async def test_names_titles_suspensions_and_deletions_from_the_users_topic(
        client, auth, ask, answer, settings, topics, app):
    q = await ask(tags=["kafka"])
    bobs = await answer(q["id"], "bob")
    carols = await answer(q["id"], "carol")
    await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"), json={"answer_id": bobs["id"]})
    now = datetime.now(UTC)
    await publish_versioned(settings.kafka, topics.users,
                  (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)),
                  (1, UserRegistered(user_id="carol", display_name="Carol", registered_at=now)),
                  (2, HonorTitleGranted(user_id="bob", title="Kafka Expert", granted_by="op")),
                  (3, HonorTitleGranted(user_id="bob", title="Mentor", granted_by="points")),
                  (4, ProfileUpdated(user_id="bob", display_name="Robert")),
                  (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)))  # a late replay

    async def named():
        page = await experts(client, tag="kafka")
        assert [(e["user_id"], e["display_name"], e["titles"]) for e in page["items"]] == [
            ("bob", "Robert", ["Kafka Expert", "Mentor"]), ("carol", "Carol", [])]

    await eventually(named, timeout=40)

    await publish_versioned(settings.kafka, topics.users, (5, HonorTitleRevoked(user_id="bob", title="Mentor", revoked_by="op")),
                  (6, UserSuspended(user_id="bob", moderator_id="mod", reason="spam",
                                    until=now + timedelta(days=2))))

    async def suspended_left():
        assert [e["user_id"] for e in (await experts(client, tag="kafka"))["items"]] == ["carol"]

    await eventually(suspended_left, timeout=40)
    await publish_versioned(settings.kafka, topics.users, (7, UserReinstated(user_id="bob", moderator_id="mod")))

    async def back():
        page = await experts(client, tag="kafka")
        assert [(e["user_id"], e["titles"]) for e in page["items"]] == [("bob", ["Kafka Expert"]), ("carol", [])]

    await eventually(back, timeout=40)

    await publish_versioned(settings.kafka, topics.users, (2, UserDeleted(user_id="carol")))

    async def deleted_left():
        assert [e["user_id"] for e in (await experts(client, tag="kafka"))["items"]] == ["bob"]
        assert await app.state.store.expertise.count_documents({"user_id": "carol"}) == 0

    await eventually(deleted_left, timeout=40)
    # a vote on the anonymised answer brings nobody back
    assert (await client.put(f"{API}/posts/{carols['id']}/vote", headers=auth("erin"), json={"value": 1})
            ).status_code == 200
    assert table(await experts(client, tag="kafka")) == [("bob", 1, 1, 0)]


async def test_the_recount_job_builds_the_lists_of_answers_from_before_them(client, auth, app, ask, answer, settings):
    """Answers posted before a version with expert lists count once `agora-content recount-experts` ran; running it
    again (or over answers already counted) changes nothing."""
    from agora_content.cli import recount_experts

    q = await ask(tags=["ceph"])
    first, second = await answer(q["id"], "bob"), await answer(q["id"], "carol")
    r = await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"), json={"answer_id": first["id"]})
    assert r.status_code == 200
    assert (await client.put(f"{API}/posts/{second['id']}/vote", headers=auth("erin"),
                             json={"value": 1})).status_code == 200
    built = table(await experts(client, tag="ceph"))
    assert built == [("bob", 1, 1, 0), ("carol", 1, 0, 1)]

    store = app.state.store  # as the data was before the aggregates existed
    await store.expertise.delete_many({})
    await store.posts.update_many({}, {"$unset": {"expertise": "", "first_answer_seconds": ""}})
    assert table(await experts(client, tag="ceph")) == []

    assert await recount_experts(settings, quiet=True) == 2
    assert table(await experts(client, tag="ceph")) == built
    rows = {e["user_id"]: e for e in (await experts(client, tag="ceph"))["items"]}
    assert rows["bob"]["first_answers"] == 1 and rows["carol"]["first_answers"] == 0
    assert await recount_experts(settings, quiet=True) == 2
    assert table(await experts(client, tag="ceph")) == built
