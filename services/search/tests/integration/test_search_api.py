"""The search API against a real index: queries in English and Chinese, filters, sorts, facets, highlighting,
typo tolerance, deep pagination, autocomplete and errors."""

import pytest

pytestmark = pytest.mark.servers("kafka", "elasticsearch")


async def test_chinese_word_inside_a_sentence_and_english_stemming(api, corpus):
    result = await api.search(q="存储")
    assert api.ids(result) == ["q1"]
    assert "<em>存储</em>" in result["hits"][0]["highlight"]["title"][0]
    assert api.ids(await api.search(q="配置存储")) == ["q1"]
    assert api.ids(await api.search(q="安装")) == ["q1"]
    result = await api.search(q="install package")  # stems: installing, packages
    assert api.ids(result) == ["q2"]
    assert "<em>Installing</em>" in result["hits"][0]["highlight"]["title"][0]


async def test_typos_are_tolerated(api, corpus):
    assert api.ids(await api.search(q="rebalnce")) == ["q3"]
    assert set(api.ids(await api.search(q="kubernets"))) == {"r1", "q1"}
    assert api.ids(await api.search(q="pyhton proxy")) == ["q2"]


async def test_highlights_and_snippets_are_html_safe(api, content):
    await content.ask("x1", "Escaping <script> tags in templates", "Never trust <b>input</b> like <script>alert(1)</script>")
    result = await api.wait_for(lambda r: r["total"] == 1, q="script")
    hit = result["hits"][0]
    assert "<script>" not in hit["snippet"] and "&lt;<em>script</em>&gt;" in hit["snippet"]
    assert hit["title"] == "Escaping <script> tags in templates"  # plain field, for clients that escape themselves


async def test_filters(api, corpus):
    assert sorted(api.ids(await api.search(type="question"))) == ["q1", "q2", "q3"]
    assert api.ids(await api.search(type="article")) == ["r1"]
    assert sorted(api.ids(await api.search(tags="kafka"))) == ["q3", "r1"]
    assert api.ids(await api.search(tags="kafka,kubesphere")) == ["r1"]  # every tag must be present
    assert api.ids(await api.search(tags=["KAFKA", "kubesphere"])) == ["r1"]
    assert sorted(api.ids(await api.search(author="alice"))) == ["q1", "q3"]
    result = await api.search(sig="sig-streaming")
    assert api.ids(result) == ["q3"] and result["hits"][0]["sig_id"] == "sig-streaming"
    window = {"from": "2026-01-01T00:15:00Z", "to": "2026-01-01T00:35:00Z"}
    assert sorted(api.ids(await api.search(**window))) == ["q2", "q3"]
    assert api.ids(await api.search(**{"from": "2026-01-01T00:35:00+00:00"})) == ["r1"]
    assert sorted(api.ids(await api.search(answered="true"))) == ["q2", "q3"]
    assert api.ids(await api.search(answered="false")) == ["q1"]  # questions only
    assert api.ids(await api.search(accepted="true")) == ["q2"]
    assert sorted(api.ids(await api.search(accepted="false"))) == ["q1", "q3"]
    assert api.ids(await api.search(q="kafka", type="question", author="alice", answered="true")) == ["q3"]


async def test_sorts(api, corpus):
    assert api.ids(await api.search(sort="newest")) == ["r1", "q3", "q2", "q1"]
    assert api.ids(await api.search(sort="votes")) == ["q3", "r1", "q1", "q2"]
    relevance = await api.search(q="kafka kubernetes")
    assert api.ids(relevance)[0] == "r1"  # both words in the title
    scores = [h["relevance"] for h in relevance["hits"]]
    assert scores == sorted(scores, reverse=True)


async def test_facets_count_other_choices(api, corpus):
    result = await api.search(type="question")
    assert {f["value"]: f["count"] for f in result["facets"]["type"]} == {"question": 3, "article": 1}
    assert {f["value"]: f["count"] for f in result["facets"]["tags"]} == {
        "kubesphere": 1, "storage": 1, "python": 1, "kafka": 1}
    result = await api.search(tags="kafka")
    assert {f["value"]: f["count"] for f in result["facets"]["type"]} == {"question": 1, "article": 1}
    assert result["total"] == 2


async def test_suggest_titles_and_tags(api, corpus, client):
    response = await client.get("/api/v1/search/suggest", params={"prefix": "Kaf"})
    assert response.status_code == 200
    body = response.json()
    assert {t["id"] for t in body["titles"]} == {"q3", "r1"}
    assert body["tags"] == [{"value": "kafka", "count": 2}]
    body = (await client.get("/api/v1/search/suggest", params={"prefix": "如何"})).json()
    assert [t["id"] for t in body["titles"]] == ["q1"]
    body = (await client.get("/api/v1/search/suggest", params={"prefix": "kube"})).json()
    assert body["tags"] == [{"value": "kubesphere", "count": 2}]


async def test_deep_pagination_is_complete_and_stable_while_scores_change(api, content):
    n = 45
    for i in range(n):
        await content.ask(f"p{i:02d}", f"Paging question number {i}", tags=["paging"])
        await content.vote(f"p{i:02d}", i % 5)  # many ties: the id tiebreaker keeps the order total
    full = await api.wait_for(lambda r: r["total"] == n and sum(h["score"] for h in r["hits"]) == 90,
                              tags="paging", sort="votes", size=100)
    expected = api.ids(full)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"tags": "paging", "sort": "votes", "size": 4}
        if cursor:
            params["cursor"] = cursor
        page = await api.search(**params)
        assert page["total"] == n
        seen += api.ids(page)
        cursor = page["next_cursor"]
        pages += 1
        if pages == 2:  # scores change while paging: the cursor's point in time keeps the listing consistent
            for i in range(0, n, 3):
                await content.vote(f"p{i:02d}", 100 + i)
        if not cursor:
            break
    assert seen == expected and len(set(seen)) == n and pages == 12
    await api.wait_for(lambda r: r["hits"][0]["score"] >= 100, tags="paging", sort="votes", size=1)


async def test_bad_requests_are_clear_4xx(client, corpus):
    cases = [
        ({"sort": "random"}, 422), ({"size": 0}, 422), ({"size": 101}, 422), ({"type": "answer"}, 422),
        ({"from": "yesterday"}, 422), ({"from": "2026-02-01", "to": "2026-01-01"}, 422),
        ({"cursor": "garbage"}, 422), ({"q": "x" * 501}, 422), ({"answered": "maybe"}, 422),
        ({"from": "9999-12-31"}, 422), ({"to": "1970-01-01T00:00:00Z"}, 422),  # dates: 2000-2200 (agora_common.types)
    ]
    for params, status in cases:
        response = await client.get("/api/v1/search", params=params)
        assert response.status_code == status, (params, response.text)
        assert "error" in response.json()
    page = (await client.get("/api/v1/search", params={"size": 1})).json()
    other = await client.get("/api/v1/search", params={"size": 1, "q": "kafka", "cursor": page["next_cursor"]})
    assert other.status_code == 422 and other.json()["error"]["code"] == "invalid_cursor"
    assert (await client.get("/api/v1/search/suggest")).status_code == 422


async def test_admin_reindex_requires_an_operator(client, settings):
    from agora_common.auth import issue_token

    assert (await client.post("/api/v1/search/admin/reindex")).status_code == 401
    token, _ = issue_token(settings, user_id="m", roles=["moderator"], kind="access")
    response = await client.post("/api/v1/search/admin/reindex", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


async def test_metrics_and_readiness(client, corpus):
    assert (await client.get("/readyz")).status_code == 200
    text = (await client.get("/metrics")).text
    for name in ("agora_search_indexing_lag_seconds_bucket", "agora_search_documents_indexed_total",
                 'agora_search_query_duration_seconds_count{part="engine"}',
                 'agora_search_query_duration_seconds_count{part="service"}'):
        assert name in text


async def test_questions_of_an_online_qa_session_stay_searchable_by_it(api, content):
    await content.ask("qa1", "Storage classes for KubeSphere", "asked in the AMA", event="ama-9")
    await content.ask("qa2", "Upgrading KubeSphere storage", "asked in the AMA", event="ama-9")
    await content.ask("qa3", "KubeSphere storage on bare metal", "asked any day")
    found = await api.wait_ids({"qa1", "qa2"}, q="storage", event="ama-9")
    assert {hit["event_id"] for hit in found["hits"]} == {"ama-9"}
    await api.wait_ids({"qa1", "qa2", "qa3"}, q="storage")
