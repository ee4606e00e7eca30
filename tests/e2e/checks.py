"""What the scenario and fault tests check, as a member or operator sees it through the gateway: points and
boards against the independent calculation, titles, search, segments, certificates."""

from agora_testing.waiting import wait_until
from e2e.community import CommunityWeek
from e2e.expected_points import entry_counts, expected


def board(client, scope: str, window: str) -> list[tuple[int, str, int]]:
    body = client.call("GET", "/api/v1/points/leaderboards", params={"scope": scope, "window": window, "limit": 500})
    return [(row["rank"], row["user_id"], row["points"]) for row in body["entries"]]


def assert_points_match(week: CommunityWeek, timeout: float = 180.0) -> None:
    """Every member's points and every board equal the independent calculation (waiting for the processor)."""
    want = expected(week.facts)
    op = week.operator
    try:
        wait_until(lambda: board(op, "global", "all_time") == want.board("global"), timeout=timeout,
                   what="the all-time leaderboard to equal the rules' figures")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{points_diff(week, want)}") from None
    totals = {}
    for m in week.members:
        body = op.call("GET", f"/api/v1/points/users/{m.id}")
        totals[m.id] = (body["total"], body["weekly"])
    assert totals == {m.id: (want.totals.get(m.id, 0),) * 2 for m in week.members}
    scopes = {s for s in want.boards if s != "global"}
    assert {f"sig:{s['id']}" for s in week.sigs} <= scopes
    # the boards are written to Redis just after the totals change: each is given a moment to catch up
    for scope, window in [("global", "weekly"), ("global", "monthly"),
                          *((s, w) for s in sorted(scopes) for w in ("all_time", "weekly"))]:
        wait_until(lambda scope=scope, window=window: board(op, scope, window) == want.board(scope), timeout=10,
                   what=f"the {scope} {window} board to equal the rules' figures")


def points_diff(week: CommunityWeek, want) -> str:
    """What differs, for the failure message: members whose total differs, and the rules behind the gap."""
    op = week.operator
    lines, missing_rules = [], {}
    for m in week.members:
        got = op.call("GET", f"/api/v1/points/users/{m.id}")
        if got["total"] != want.totals.get(m.id, 0):
            lines.append(f"{m.id}: got {got['total']} ({got['entries']} entries), expected {want.totals.get(m.id, 0)}")
            ledger = op.call("GET", f"/api/v1/points/users/{m.id}/ledger", params={"limit": 200})["entries"]
            have = sorted(e["rule_id"] for e in ledger if e["kind"] == "award")
            expect = sorted(a.rule for a in want.awards if a.user == m.id)
            missing_rules[m.id] = (f"expected awards {expect}", f"ledger awards {have}")
    status = op.call("GET", "/api/v1/points/status")
    sample = "\n".join(f"  {u}: {e}\n    {h}" for u, (e, h) in list(missing_rules.items())[:3])
    return f"{len(lines)} members differ; points status {status}\n" + "\n".join(lines[:10]) + "\n" + sample


def title_key(title: str) -> str:
    """Titles are the same title whatever their case, spaces, '_' or '-' (users README); compare on that."""
    return "".join(c for c in title.lower() if c not in " _-")


def assert_titles(week: CommunityWeek, want) -> None:
    op = week.operator

    def titles() -> dict[str, set[str]]:
        out = {}
        ids = [m.id for m in week.members]
        for i in range(0, len(ids), 100):
            for profile in op.call("GET", "/api/v1/users", params={"ids": ids[i:i + 100]}):
                out[profile["id"]] = {title_key(t["title"]) for t in profile["titles"]}
        return out

    expected_titles = {m.id: {title_key(t) for t in want.titles.get(m.id, ())} for m in week.members}
    wait_until(lambda: titles() == expected_titles, timeout=60, what="honor titles from points")
    star = op.call("GET", f"/api/v1/users/{week.star.id}")
    assert [(title_key(t["title"]), t["source"]) for t in star["titles"]] == [("contributor", "points")]


def search_ids(client, **params) -> list[str]:
    ids, cursor = [], None
    while True:
        body = client.call("GET", "/api/v1/search", params={**params, "size": 100, **({"cursor": cursor} if cursor else {})})
        ids += [h["id"] for h in body["hits"]]
        cursor = body["next_cursor"]
        if not cursor or not body["hits"]:
            return ids


def assert_searchable(week: CommunityWeek) -> None:
    op = week.operator
    findable = {p.id for p in week.posts.values() if p.type in ("question", "article")}
    wait_until(lambda: set(search_ids(op, sort="newest")) == findable, timeout=120,
               what="every question and published article in the index")
    for post in week.posts.values():
        if post.code:  # each one by the unique word in its title (English and Chinese titles)
            hits = op.call("GET", "/api/v1/search", params={"q": post.code})["hits"]
            assert post.id in [h["id"] for h in hits], (post.code, post.chinese)
    # a Chinese word finds the Chinese questions that contain it; the question carries its answer count and state
    chinese = {p.id for p in week.posts.values() if p.type == "question" and p.chinese}
    assert chinese <= set(search_ids(op, q="编号", type="question"))
    accepted = set(search_ids(op, type="question", accepted="true"))
    assert accepted == set(week.accepted)


def assert_segments(week: CommunityWeek) -> None:
    op = week.operator
    ours = {m.id for m in week.members}
    contributors = {u for u, ev in week.evidence.items() if ev}
    active = {m.id for m in week.members if not m.ordinary}
    want = {
        "ordinary": {m.id for m in week.members if m.ordinary},
        "active": active,
        "core": {u for u in active if week.contributions[u] >= 5},
        "contributor": contributors,
    }
    assert want["core"] and want["contributor"] and want["ordinary"]

    def segments() -> dict[str, set[str]]:
        return {name: {row["user_id"] for row in op.call("GET", f"/api/v1/users/segments/{name}")["members"]} & ours
                for name in want}

    wait_until(lambda: segments() == want, timeout=90, what="member segments")
    rows = {r["user_id"]: r for r in op.call("GET", "/api/v1/users/segments/active")["members"]}
    assert {u: rows[u]["recent_contributions"] for u in active} == {u: week.contributions[u] for u in active}


def assert_certificates(week: CommunityWeek) -> None:
    anyone = week.members[-1].client  # certificates are public: an ordinary member checks them
    passed = [u for u, o in week.exam_outcomes.items() if o != "fail"]
    assert len(week.certificates) == len(passed) and len(set(week.certificates)) == len(passed)
    for cert_id in week.certificates:
        credential = anyone.call("GET", f"/api/v1/events/certificates/{cert_id}")
        result = anyone.call("POST", "/api/v1/events/certificates/verify", json=credential)
        assert result["valid"] is True and result["certificate_id"] == cert_id
    credential = anyone.call("GET", f"/api/v1/events/certificates/{week.certificates[0]}")
    credential["credentialSubject"]["id"] = f"urn:agora:user:{week.members[1].id}"  # claim it for someone else
    r = anyone.raw("POST", "/api/v1/events/certificates/verify", json=credential)
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "bad_signature", r.text


def assert_replay_check(week: CommunityWeek) -> None:
    """The points service's own check: a rebuild from the event log gives the live figures."""
    body = week.operator.call("POST", "/api/v1/points/replay-check")
    assert body["identical"] is True and not body["mismatches"], body



def assert_nothing_counted_twice(week: CommunityWeek) -> None:
    """Each member's ledger holds exactly one entry per award (and one per reversal); the index holds each post
    once."""
    want = entry_counts(week.facts)
    got = {m.id: week.operator.call("GET", f"/api/v1/points/users/{m.id}")["entries"] for m in week.members}
    assert got == {m.id: want.get(m.id, 0) for m in week.members}
    ids = search_ids(week.operator, sort="newest")
    assert len(ids) == len(set(ids))
