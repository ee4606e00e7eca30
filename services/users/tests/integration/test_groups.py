"""User groups, announcements, inboxes, mutes and replies, through the app against real MongoDB and Kafka."""

import csv
import io

import pytest
from agora_common.events import Envelope
from agora_testing.events import read_events
from agora_users.service import announcements

pytestmark = pytest.mark.servers("kafka", "mongo")

U = "/api/v1/users"


async def member_ids(client, headers, group_id: str, limit: int = 100) -> list[str]:
    ids, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{U}/groups/{group_id}/members", headers=headers, params=params)
        assert r.status_code == 200, r.text
        ids += [m["user_id"] for m in r.json()["items"]]
        if (cursor := r.json()["next_cursor"]) is None:
            return ids


async def test_groups_resolve_their_members_when_used(make_group, client, member, operator_headers):
    ada = await member("ada@example.com", "Ada", industry="Finance", city="Shanghai", skills=["Go", "SQL"])
    bob = await member("bob@example.com", "Bob", industry="Finance", city="beijing")
    cai = await member("cai@example.com", "Cai", industry="Retail", city="Shanghai", skills=["Go"])

    finance = await make_group(operator_headers, name="Finance peers", filter={"industry": "Finance"})
    assert finance["kind"] == "filter" and finance["filter"]["industry"] == "Finance" and not finance["required"]
    assert await member_ids(client, operator_headers, finance["id"]) == [ada["id"], bob["id"]]
    # paginated in the kernel's keyset style
    assert await member_ids(client, operator_headers, finance["id"], limit=1) == [ada["id"], bob["id"]]
    r = await client.get(f"{U}/groups/{finance['id']}", headers=operator_headers)
    assert r.status_code == 200 and r.json()["member_count"] == 2

    # evaluated at send time: a member who moves into the industry is in the group from then on
    r = await client.patch(f"{U}/me", headers=cai["headers"], json={"industry": "Finance"})
    assert r.status_code == 200
    assert await member_ids(client, operator_headers, finance["id"]) == [ada["id"], bob["id"], cai["id"]]

    # the directory's other filters: city in any case, skill, title; and combined
    go_shanghai = await make_group(operator_headers, name="Go in Shanghai",
                                   filter={"city": "SHANGHAI", "skill": "Go"})
    assert await member_ids(client, operator_headers, go_shanghai["id"]) == [ada["id"], cai["id"]]
    r = await client.post(f"{U}/{bob['id']}/titles", headers=operator_headers, json={"title": "Ambassador"})
    assert r.status_code == 201
    ambassadors = await make_group(operator_headers, name="Ambassadors", filter={"title": "ambassador"})
    assert await member_ids(client, operator_headers, ambassadors["id"]) == [bob["id"]]

    # by SIG, and an explicit list
    sig = (await client.post(f"{U}/sigs", headers=operator_headers, json={"name": "Storage"})).json()
    assert (await client.post(f"{U}/sigs/{sig['id']}/members", headers=cai["headers"])).status_code == 201
    storage = await make_group(operator_headers, name="Storage SIG", filter={"sig_id": sig["id"]})
    assert await member_ids(client, operator_headers, storage["id"]) == [cai["id"]]
    # the members directory filters the same way (one query for both)
    r = await client.get(f"{U}/directory", headers=operator_headers, params={"sig_id": sig["id"]})
    assert [u["id"] for u in r.json()["items"]] == [cai["id"]], r.text
    r = await client.get(f"{U}/directory", headers=operator_headers,
                         params={"segment": "ordinary", "industry": "Finance"})
    assert [u["id"] for u in r.json()["items"]] == [ada["id"], bob["id"], cai["id"]]
    r = await client.get(f"{U}/directory", headers=operator_headers, params={"segment": "famous"})
    assert r.status_code == 422
    listed = await make_group(operator_headers, name="Speakers", members=[cai["id"], ada["id"], ada["id"]])
    assert listed["kind"] == "members" and listed["explicit_members"] == 2 and listed["filter"] is None
    assert await member_ids(client, operator_headers, listed["id"]) == [ada["id"], cai["id"]]

    # segment: nobody has acted yet, so everybody is ordinary
    ordinary = await make_group(operator_headers, name="Quiet ones", filter={"segment": "ordinary"})
    assert set(await member_ids(client, operator_headers, ordinary["id"])) == {ada["id"], bob["id"], cai["id"]}

    # listing by name, a page at a time
    r = await client.get(f"{U}/groups", headers=operator_headers, params={"limit": 4})
    page = r.json()
    assert [g["name"] for g in page["items"]] == ["Ambassadors", "Finance peers", "Go in Shanghai", "Quiet ones"]
    r = await client.get(f"{U}/groups", headers=operator_headers, params={"cursor": page["next_cursor"]})
    assert [g["name"] for g in r.json()["items"]] == ["Speakers", "Storage SIG"] and r.json()["next_cursor"] is None

    # change and delete
    r = await client.patch(f"{U}/groups/{listed['id']}", headers=operator_headers,
                           json={"filter": {"city": "Beijing"}, "required": True})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "filter" and r.json()["required"] and r.json()["explicit_members"] is None
    assert await member_ids(client, operator_headers, listed["id"]) == [bob["id"]]
    r = await client.patch(f"{U}/groups/{listed['id']}", headers=operator_headers, json={"name": "finance PEERS"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "group_name_taken"
    assert (await client.delete(f"{U}/groups/{listed['id']}", headers=operator_headers)).status_code == 204
    assert (await client.get(f"{U}/groups/{listed['id']}", headers=operator_headers)).status_code == 404
    assert (await client.delete(f"{U}/groups/{listed['id']}", headers=operator_headers)).status_code == 404


async def test_groups_are_for_operators_and_refuse_bad_input(make_group, client, member, operator_headers, moderator_headers):
    ada = await member("ada@example.com", "Ada")
    body = {"name": "Everyone", "filter": {}}
    for headers in (ada["headers"], moderator_headers):
        assert (await client.post(f"{U}/groups", headers=headers, json=body)).status_code == 403
        assert (await client.get(f"{U}/groups", headers=headers)).status_code == 403
    assert (await client.post(f"{U}/groups", json=body)).status_code == 401
    group = await make_group(operator_headers, **body)
    for method, path, json in (("get", f"/groups/{group['id']}", None), ("patch", f"/groups/{group['id']}", {}),
                               ("delete", f"/groups/{group['id']}", None),
                               ("get", f"/groups/{group['id']}/members", None),
                               ("post", f"/groups/{group['id']}/announcements", {"title": "t", "body": "b"})):
        r = await client.request(method, U + path, headers=ada["headers"], json=json)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path, r.text)

    async def refused(body: dict, status: int, code: str) -> None:
        r = await client.post(f"{U}/groups", headers=operator_headers, json=body)
        assert r.status_code == status and r.json()["error"]["code"] == code, (body, r.text)

    await refused({"name": "Both", "filter": {}, "members": [ada["id"]]}, 422, "invalid_input")
    await refused({"name": "Neither"}, 422, "invalid_input")
    await refused({"name": "Empty", "members": []}, 422, "invalid_input")
    await refused({"name": "Bad key", "filter": {"industri": "Finance"}}, 422, "invalid_input")
    await refused({"name": "Bad segment", "filter": {"segment": "vip"}}, 422, "invalid_input")
    await refused({"name": "Ghosts", "members": [ada["id"], "nobody"]}, 422, "unknown_members")
    await refused({"name": "No SIG", "filter": {"sig_id": "nope"}}, 422, "unknown_sig")
    await refused({"name": "everyone", "filter": {"city": "Paris"}}, 409, "group_name_taken")
    r = await client.post(f"{U}/groups", headers=operator_headers, json={"name": "Ghosts", "members": ["nobody"]})
    assert r.json()["error"]["details"] == {"user_ids": ["nobody"]}

    assert (await client.get(f"{U}/groups/nope", headers=operator_headers)).status_code == 404
    assert (await client.get(f"{U}/groups/nope/members", headers=operator_headers)).status_code == 404
    r = await client.post(f"{U}/groups/nope/announcements", headers=operator_headers, json={"title": "t", "body": "b"})
    assert r.status_code == 404
    r = await client.get(f"{U}/groups", headers=operator_headers, params={"industry": "Finance"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_query_parameter"
    r = await client.get(f"{U}/groups/{group['id']}/members", headers=operator_headers, params={"cursor": "junk"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    url = f"{U}/groups/{group['id']}/announcements"
    for bad in ({"title": "t", "body": "   "}, {"title": "", "body": "b"}, {"title": "t"},
                {"title": "t", "body": "b", "link": "javascript:alert(1)"}, {"title": "t\nBcc: x", "body": "b"}):
        r = await client.post(url, headers=operator_headers, json=bad)
        assert r.status_code == 422, (bad, r.text)

    # Idempotency-Key on creation
    headers = {**operator_headers, "Idempotency-Key": "group-1"}
    first = await client.post(f"{U}/groups", headers=headers, json={"name": "Retry", "filter": {"role": "member"}})
    again = await client.post(f"{U}/groups", headers=headers, json={"name": "Retry", "filter": {"role": "member"}})
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    r = await client.post(f"{U}/groups", headers=headers, json={"name": "Retry 2", "filter": {}})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"


async def test_announcement_reaches_inboxes_in_batches(make_group, client, member, operator_headers, app, settings):
    app.state.store.settings.announcement_batch_size = 2
    ada = await member("ada@example.com", "Ada", industry="Finance")
    bob = await member("bob@example.com", "Bob", industry="Finance")
    cai = await member("cai@example.com", "Cai", industry="Finance")
    dan = await member("dan@example.com", "Dan", industry="Retail")
    group = await make_group(operator_headers, name="Finance peers", filter={"industry": "Finance"})

    body = {"title": "Peer exchange, 12 March", "body": "Compare notes on audit tooling.",
            "link": "/api/v1/events/e-1"}
    r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=operator_headers, json=body)
    assert r.status_code == 201, r.text
    ann = r.json()
    assert ann["status"] == "delivered" and ann["recipients"] == 3 and ann["muted"] == 0 and ann["batches"] == 2
    assert ann["group_name"] == "Finance peers" and ann["link"] == "/api/v1/events/e-1"
    r = await client.get(f"{U}/announcements/{ann['id']}", headers=operator_headers)
    assert r.json() == ann
    r = await client.get(f"{U}/groups/{group['id']}/announcements", headers=operator_headers)
    assert [a["id"] for a in r.json()["items"]] == [ann["id"]]

    # each member's own inbox, with an unread count
    r = await client.get(f"{U}/me/inbox", headers=ada["headers"])
    assert r.status_code == 200 and r.json()["next_cursor"] is None
    [item] = r.json()["items"]
    assert item["announcement_id"] == ann["id"] and item["title"] == body["title"] and item["body"] == body["body"]
    assert item["group_id"] == group["id"] and item["read"] is False and item["kind"] == "announcement"
    assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 1}
    assert (await client.get(f"{U}/me/inbox", headers=dan["headers"])).json()["items"] == []
    assert (await client.get(f"{U}/me/inbox/count", headers=dan["headers"])).json() == {"unread": 0}

    # nobody reads or marks another member's item
    r = await client.post(f"{U}/me/inbox/{item['id']}/read", headers=bob["headers"])
    assert r.status_code == 404
    assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 1}
    assert item["id"] not in {i["id"] for i in (await client.get(f"{U}/me/inbox", headers=bob["headers"])).json()["items"]}
    assert (await client.get(f"{U}/me/inbox")).status_code == 401

    r = await client.post(f"{U}/me/inbox/{item['id']}/read", headers=ada["headers"])
    assert r.status_code == 200 and r.json()["read"] is True and r.json()["read_at"]
    again = await client.post(f"{U}/me/inbox/{item['id']}/read", headers=ada["headers"])
    assert again.json()["read_at"] == r.json()["read_at"]  # idempotent: the first read time stays
    assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 0}
    assert (await client.get(f"{U}/me/inbox", headers=ada["headers"], params={"unread": "true"})).json()["items"] == []
    r = await client.get(f"{U}/me/inbox", headers=ada["headers"], params={"unread": "false"})
    assert [i["id"] for i in r.json()["items"]] == [item["id"]]
    assert (await client.get(f"{U}/me/inbox/count", headers=cai["headers"])).json() == {"unread": 1}

    # newest first, a page at a time
    r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=operator_headers,
                          json={"title": "Reminder", "body": "Tomorrow."})
    r = await client.get(f"{U}/me/inbox", headers=ada["headers"], params={"limit": 1})
    assert r.json()["items"][0]["title"] == "Reminder" and r.json()["next_cursor"]
    r = await client.get(f"{U}/me/inbox", headers=ada["headers"], params={"cursor": r.json()["next_cursor"]})
    assert [i["id"] for i in r.json()["items"]] == [item["id"]]

    # published: one AnnouncementDelivered per batch (the member ids, no emails), then AnnouncementSent
    def of_first(es: list[Envelope]) -> list[Envelope]:
        return [e for e in es if e.subject == ann["id"]]

    events = of_first(await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                                        until=lambda es: len(of_first(es)) >= 3))
    assert [e.type for e in events] == ["AnnouncementDelivered", "AnnouncementDelivered", "AnnouncementSent"]
    assert [e.version for e in events] == [2, 3, 4]
    batches = [e.payload() for e in events[:2]]
    assert [b.batch for b in batches] == [1, 2]
    assert sorted(u for b in batches for u in b.user_ids) == sorted([ada["id"], bob["id"], cai["id"]])
    assert batches[0].title == body["title"] and batches[0].link == body["link"]
    assert "@" not in str(events[0].data)
    sent = events[2].payload()
    assert (sent.recipients, sent.muted, sent.batches, sent.group_id) == (3, 0, 2, group["id"])


async def test_muted_members_get_nothing_unless_the_group_is_required(make_group, client, member, operator_headers):
    ada = await member("ada@example.com", "Ada", city="Berlin")
    bob = await member("bob@example.com", "Bob", city="Berlin")
    group = await make_group(operator_headers, name="Berlin", filter={"city": "Berlin"})
    url = f"{U}/me/muted-groups/{group['id']}"
    r = await client.post(url, headers=bob["headers"])
    assert r.status_code == 200 and r.json()["group_name"] == "Berlin"
    assert (await client.post(url, headers=bob["headers"])).json() == r.json()  # idempotent
    assert (await client.get(f"{U}/me/muted-groups", headers=bob["headers"])).json() == [r.json()]
    assert (await client.post(f"{U}/me/muted-groups/nope", headers=bob["headers"])).status_code == 404
    members = (await client.get(f"{U}/groups/{group['id']}/members", headers=operator_headers)).json()["items"]
    assert [(m["user_id"], m["muted"]) for m in members] == [(ada["id"], False), (bob["id"], True)]

    announce = f"{U}/groups/{group['id']}/announcements"
    ann = (await client.post(announce, headers=operator_headers, json={"title": "Meetup", "body": "Friday"})).json()
    assert (ann["recipients"], ann["muted"]) == (1, 1)
    assert (await client.get(f"{U}/me/inbox/count", headers=bob["headers"])).json() == {"unread": 0}
    assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 1}

    # a required group ignores mutes, and cannot be muted
    r = await client.patch(f"{U}/groups/{group['id']}", headers=operator_headers, json={"required": True})
    assert r.status_code == 200
    r = await client.post(url, headers=ada["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "group_required"
    ann = (await client.post(announce, headers=operator_headers, json={"title": "Rules", "body": "Read"})).json()
    assert (ann["recipients"], ann["muted"], ann["required"]) == (2, 0, True)
    assert (await client.get(f"{U}/me/inbox/count", headers=bob["headers"])).json() == {"unread": 1}

    assert (await client.delete(url, headers=bob["headers"])).status_code == 204
    r = await client.delete(url, headers=bob["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_muted"
    assert (await client.get(f"{U}/me/muted-groups", headers=bob["headers"])).json() == []


async def test_replies_are_read_and_exported_by_operators(make_group, client, member, operator_headers):
    ada = await member("ada@example.com", "=HYPERLINK(\"x\")", industry="Finance")
    bob = await member("bob@example.com", "Bob", industry="Finance")
    cai = await member("cai@example.com", "Cai", industry="Retail")
    group = await make_group(operator_headers, name="Finance", filter={"industry": "Finance"})
    ann = (await client.post(f"{U}/groups/{group['id']}/announcements", headers=operator_headers,
                             json={"title": "What should we cover?", "body": "Tell us."})).json()
    url = f"{U}/announcements/{ann['id']}/replies"

    r = await client.post(url, headers={**ada["headers"], "Idempotency-Key": "r1"}, json={"body": "Audit tooling"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["user_id"] == ada["id"] and first["body"] == "Audit tooling"
    again = await client.post(url, headers={**ada["headers"], "Idempotency-Key": "r1"}, json={"body": "Audit tooling"})
    assert again.json()["id"] == first["id"] and again.headers["Idempotent-Replayed"] == "true"
    r = await client.post(url, headers=bob["headers"], json={"body": "-1, prefer\nregulation, \"quotes\""})
    assert r.status_code == 201
    r = await client.post(url, headers=cai["headers"], json={"body": "not for me"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_recipient"
    assert (await client.post(url, headers=bob["headers"], json={"body": "  "})).status_code == 422
    assert (await client.post(url, headers=bob["headers"], json={})).status_code == 422
    assert (await client.post(f"{U}/announcements/nope/replies", headers=bob["headers"],
                              json={"body": "x"})).status_code == 404

    # operators read them, a page at a time, and export them
    assert (await client.get(url, headers=bob["headers"])).status_code == 403
    r = await client.get(url, headers=operator_headers, params={"limit": 1})
    assert [x["body"] for x in r.json()["items"]] == ["Audit tooling"] and r.json()["next_cursor"]
    r = await client.get(url, headers=operator_headers, params={"cursor": r.json()["next_cursor"]})
    assert [x["display_name"] for x in r.json()["items"]] == ["Bob"] and r.json()["next_cursor"] is None
    assert (await client.get(f"{U}/announcements/nope/replies", headers=operator_headers)).status_code == 404

    assert (await client.get(f"{url}.csv", headers=bob["headers"])).status_code == 403
    r = await client.get(f"{url}.csv", headers=operator_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith(f'attachment; filename="announcement-{ann["id"]}-replies')
    # the member's own data export lists the inbox item and the replies
    data = (await client.get(f"{U}/me/export", headers=ada["headers"])).json()
    assert [i["source_id"] for i in data["inbox"]] == [ann["id"]]
    assert [x["body"] for x in data["announcement_replies"]] == ["Audit tooling"] and data["muted_groups"] == []
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["user_id"], x["display_name"], x["body"]) for x in rows] == [
        (ada["id"], "'=HYPERLINK(\"x\")", "Audit tooling"), (bob["id"], "Bob", "'-1, prefer\nregulation, \"quotes\"")]


async def test_an_interrupted_delivery_resumes_on_retry(make_group, client, member, operator_headers, app, monkeypatch):
    app.state.store.settings.announcement_batch_size = 1
    ids = [(await member(f"m{i}@example.com", f"M{i}", industry="Energy"))["id"] for i in range(3)]
    group = await make_group(operator_headers, name="Energy", filter={"industry": "Energy"})
    real = announcements._deliver_batch
    calls = 0

    async def crash_on_second(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed")
        await real(*args, **kwargs)

    monkeypatch.setattr(announcements, "_deliver_batch", crash_on_second)
    headers = {**operator_headers, "Idempotency-Key": "a1"}
    body = {"title": "Grid day", "body": "Saturday"}
    try:  # the process dies half-way (a 500 here, or the error itself through the test transport)
        r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=headers, json=body)
        assert r.status_code == 500
    except RuntimeError:
        pass
    store = app.state.store
    [ann] = await store.db.announcements.find().to_list()
    assert ann["status"] == "delivering" and ann["recipients"] == 1

    r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=headers, json=body)
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert (r.json()["status"], r.json()["recipients"], r.json()["batches"]) == ("delivered", 3, 3)
    rows = await store.db.inbox.find({"source_id": ann["_id"]}).to_list()
    assert sorted(row["user_id"] for row in rows) == sorted(ids)
