"""Search body building, result formatting and cursors: pure logic."""

import pytest
from agora_common.errors import InvalidInput
from agora_search.domain import cursor as cursors
from agora_search.domain import query as q
from agora_search.domain.query import SearchParams


def test_browsing_without_words_sorts_newest_and_has_no_highlight():
    body = q.build_body(SearchParams())
    assert body["sort"][0] == {"created_at": "desc"} and "highlight" not in body
    assert body["query"]["bool"]["filter"] == [{"term": {"visible": True}}]


def test_facet_filters_go_to_post_filter_and_each_facet_ignores_its_own():
    body = q.build_body(SearchParams(q="x", type="question", tags=("a", "b")))
    assert body["post_filter"]["bool"]["filter"] == [
        {"term": {"type": "question"}}, {"term": {"tags": "a"}}, {"term": {"tags": "b"}}]
    assert body["aggs"]["tags"]["filter"] == {"bool": {"filter": [{"term": {"type": "question"}}]}}
    assert body["aggs"]["type"]["filter"]["bool"]["filter"] == [{"term": {"tags": "a"}}, {"term": {"tags": "b"}}]


def test_unanswered_means_questions_without_answers():
    filters = q.build_body(SearchParams(answered=False))["query"]["bool"]["filter"]
    assert {"term": {"type": "question"}} in filters and {"term": {"answered": False}} in filters


def test_fingerprint_ignores_size_but_not_filters():
    assert SearchParams(q="a", size=5).fingerprint() == SearchParams(q="a", size=50).fingerprint()
    assert SearchParams(q="a").fingerprint() != SearchParams(q="a", tags=("x",)).fingerprint()


def test_asks_one_more_hit_and_continues_after_the_last_shown():
    params = SearchParams(size=2)
    response = {"hits": {"total": {"value": 3}, "hits": [
        {"_source": {"id": str(i), "type": "article", "title": "t", "summary": "s"}, "sort": [i, str(i)]}
        for i in range(3)]}}
    result, after = q.parse_response(params, response)
    assert [h["id"] for h in result["hits"]] == ["0", "1"] and after == [1, "1"]
    result, after = q.parse_response(SearchParams(size=3), response)
    assert after is None and len(result["hits"]) == 3


def test_highlight_prefers_the_variant_with_whole_words():
    merged = q.merge_highlight({"title": ["配置<em>存</em><em>储</em>"], "title.cjk": ["配置<em>存储</em>"]})
    assert merged == {"title": ["配置<em>存储</em>"]}
    merged = q.merge_highlight({"title": ["<em>Installing</em> x"], "title.cjk": ["Installing x"]})
    assert merged["title"] == ["<em>Installing</em> x"]


def test_snippet_falls_back_to_summary():
    hit = q.format_hit({"_source": {"id": "1", "type": "question", "title": "t", "summary": "plain"}})
    assert hit["snippet"] == "plain" and hit["highlight"] == {}


def test_cursor_round_trip_and_garbage():
    c = cursors.Cursor(pit_id="p", search_after=[1.5, "x"], fingerprint="f")
    assert cursors.decode(cursors.encode(c)) == c
    for bad in ["", "!!!", "eyJ4IjoxfQ", cursors.encode(cursors.Cursor(None, [], "f"))]:
        with pytest.raises(InvalidInput):
            cursors.decode(bad)


def test_tag_suggestions_keep_only_the_prefix():
    response = {"aggregations": {"tags": {"buckets": [{"key": "kafka", "doc_count": 3}, {"key": "python",
                                                                                         "doc_count": 2}]}}}
    assert q.parse_tag_suggestions("Ka", response, 5) == [{"value": "kafka", "count": 3}]
