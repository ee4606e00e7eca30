"""Search request -> Elasticsearch body, and Elasticsearch response -> API result. Pure functions, no I/O."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Sort = Literal["relevance", "newest", "votes"]
PostKind = Literal["question", "article"]

FACET_SIZE = 20
SOURCE_FIELDS = ["id", "type", "title", "summary", "tags", "author_id", "sig_id", "event_id", "score", "created_at",
                 "answer_count", "has_accepted", "accepted_answer_id", "accepted_answer_author_id"]
# Highlighted fields: each text field is analysed twice (English and CJK); the better highlight of the two is shown.
HIGHLIGHT_FIELDS = ("title", "body", "answers_text")


@dataclass(frozen=True)
class SearchParams:
    q: str | None = None
    type: PostKind | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    sig: str | None = None
    event: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    answered: bool | None = None
    accepted: bool | None = None
    sort: Sort = "relevance"
    size: int = 20

    @property
    def text(self) -> str | None:
        return self.q.strip() if self.q and self.q.strip() else None

    @property
    def effective_sort(self) -> Sort:
        # without words there is no relevance: browsing lists the newest first
        return "newest" if self.sort == "relevance" and not self.text else self.sort

    def fingerprint(self) -> str:
        """Identifies the query a cursor belongs to (page size may change between pages)."""
        data = asdict(self)
        data.pop("size")
        return hashlib.sha256(json.dumps(data, default=str, sort_keys=True).encode()).hexdigest()[:16]


def sort_spec(params: SearchParams) -> list[dict]:
    # `id` last: a unique tiebreaker, so search_after never skips or repeats a hit
    match params.effective_sort:
        case "relevance":
            return [{"_score": "desc"}, {"created_at": "desc"}, {"id": "asc"}]
        case "votes":
            return [{"score": "desc"}, {"created_at": "desc"}, {"id": "asc"}]
        case _:
            return [{"created_at": "desc"}, {"id": "asc"}]


def text_query(text: str) -> dict:
    return {
        "bool": {
            "should": [
                # English: stemmed, typo tolerant (AUTO: 1 edit from 3 letters, 2 from 6; first letter must match)
                {"multi_match": {"query": text, "fields": ["title^3", "body", "answers_text^0.5"],
                                 "fuzziness": "AUTO", "prefix_length": 1, "minimum_should_match": "2<75%"}},
                # Chinese (and any CJK): bigrams, so a word is found inside a sentence without a dictionary
                {"multi_match": {"query": text, "fields": ["title.cjk^3", "body.cjk", "answers_text.cjk^0.5"],
                                 "minimum_should_match": "2<60%"}},
                {"match_phrase": {"title": {"query": text, "boost": 2}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _filters(params: SearchParams) -> list[dict]:
    filters: list[dict] = [{"term": {"visible": True}}]
    if params.author:
        filters.append({"term": {"author_id": params.author}})
    if params.sig:
        filters.append({"term": {"sig_id": params.sig}})
    if params.event:
        filters.append({"term": {"event_id": params.event}})
    if params.date_from or params.date_to:
        bounds = {}
        if params.date_from:
            bounds["gte"] = params.date_from.isoformat()
        if params.date_to:
            bounds["lte"] = params.date_to.isoformat()
        filters.append({"range": {"created_at": bounds}})
    # answered / accepted only make sense for questions: asking for either limits the results to questions
    if params.answered is not None:
        filters += [{"term": {"type": "question"}}, {"term": {"answered": params.answered}}]
    if params.accepted is not None:
        filters += [{"term": {"type": "question"}}, {"term": {"has_accepted": params.accepted}}]
    return filters


def _type_filters(params: SearchParams) -> list[dict]:
    return [{"term": {"type": params.type}}] if params.type else []


def _tag_filters(params: SearchParams) -> list[dict]:
    return [{"term": {"tags": t}} for t in params.tags]  # every tag must be present


def _all(filters: list[dict]) -> dict:
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def build_body(params: SearchParams, *, search_after: list | None = None) -> dict[str, Any]:
    """The search body. Facet filters (type, tags) go in post_filter, so each facet counts what choosing another
    value would give (the tags facet ignores the tag filter, the type facet the type filter)."""
    text = params.text
    query: dict = {"bool": {"filter": _filters(params)}}
    if text:
        query["bool"]["must"] = [text_query(text)]
    body: dict[str, Any] = {
        "query": query,
        "sort": sort_spec(params),
        "size": params.size + 1,  # one more than asked: tells whether a next page exists
        "track_total_hits": True,
        "_source": SOURCE_FIELDS,
        "aggs": {
            "tags": {"filter": _all(_type_filters(params)),
                     "aggs": {"values": {"terms": {"field": "tags", "size": FACET_SIZE}}}},
            "type": {"filter": _all(_tag_filters(params)),
                     "aggs": {"values": {"terms": {"field": "type", "size": 2}}}},
        },
    }
    post = _type_filters(params) + _tag_filters(params)
    if post:
        body["post_filter"] = _all(post)
    if text:
        fields = {}
        for name in HIGHLIGHT_FIELDS:
            options = {"number_of_fragments": 0} if name == "title" else {"fragment_size": 160, "number_of_fragments": 1}
            fields[name] = options
            fields[f"{name}.cjk"] = options
        body["highlight"] = {"encoder": "html", "pre_tags": ["<em>"], "post_tags": ["</em>"], "fields": fields}
    if search_after is not None:
        body["search_after"] = search_after
    return body


def _marked_chars(fragments: list[str]) -> tuple[int, int]:
    """How good a highlight is: more highlighted characters first, then fewer (so longer) marks."""
    chars = marks = 0
    for fragment in fragments:
        for part in fragment.split("<em>")[1:]:
            chars += len(part.split("</em>", 1)[0])
            marks += 1
    return chars, -marks


def merge_highlight(highlight: dict[str, list[str]]) -> dict[str, list[str]]:
    merged = {}
    for name in HIGHLIGHT_FIELDS:
        candidates = [highlight[f] for f in (name, f"{name}.cjk") if highlight.get(f)]
        if candidates:
            merged[name] = max(candidates, key=_marked_chars)
    return merged


def format_hit(hit: dict) -> dict:
    src = hit["_source"]
    highlight = merge_highlight(hit.get("highlight") or {})
    snippets = highlight.get("body") or highlight.get("answers_text") or [src.get("summary") or ""]
    return {
        "id": src["id"],
        "type": src["type"],
        "title": src.get("title") or "",
        "snippet": snippets[0],
        "highlight": highlight,
        "tags": src.get("tags") or [],
        "author_id": src.get("author_id"),
        "sig_id": src.get("sig_id"),
        "event_id": src.get("event_id"),
        "score": src.get("score", 0),
        "created_at": src.get("created_at"),
        "answer_count": src.get("answer_count") if src["type"] == "question" else None,
        "has_accepted_answer": src.get("has_accepted") if src["type"] == "question" else None,
        "author_expert_tags": [],
        "accepted_answer": {"id": src["accepted_answer_id"], "author_id": src.get("accepted_answer_author_id"),
                            "author_display_name": None, "author_expert_tags": []}
        if src["type"] == "question" and src.get("accepted_answer_id") else None,
        "relevance": hit.get("_score"),
    }


class Person(Protocol):
    @property
    def display_name(self) -> str | None: ...

    @property
    def expert_tags(self) -> frozenset[str]: ...


def describe_people(hits: list[dict], people: Mapping[str, Person]) -> None:
    """Fill in, from `people` (user id -> what the users topic said), the display names of the accepted answers'
    authors, and for the post's author and its accepted answer's author the post's tags they are experts of."""
    for hit in hits:
        tags = set(hit["tags"])
        author = people.get(hit["author_id"]) if hit["author_id"] else None
        hit["author_expert_tags"] = sorted(tags & author.expert_tags) if author else []
        accepted = hit.get("accepted_answer")
        if accepted and accepted["author_id"]:
            person = people.get(accepted["author_id"])
            accepted["author_display_name"] = person.display_name if person else None
            accepted["author_expert_tags"] = sorted(tags & person.expert_tags) if person else []


def people(hits: list[dict]) -> set[str]:
    """The members a page of hits names: the posts' authors and their accepted answers' authors."""
    ids = {h["author_id"] for h in hits if h["author_id"]}
    return ids | {h["accepted_answer"]["author_id"] for h in hits if h.get("accepted_answer")
                  and h["accepted_answer"]["author_id"]}


def _buckets(aggs: dict, name: str) -> list[dict]:
    return [{"value": b["key"], "count": b["doc_count"]} for b in aggs.get(name, {}).get("values", {}).get("buckets", [])]


def parse_response(params: SearchParams, response: dict) -> tuple[dict, list | None]:
    """The API result (without next_cursor) and the sort values to continue after, if there is a next page."""
    raw_hits = response["hits"]["hits"]
    page = raw_hits[: params.size]
    aggs = response.get("aggregations") or {}
    result = {
        "total": response["hits"]["total"]["value"],
        "hits": [format_hit(h) for h in page],
        "facets": {"tags": _buckets(aggs, "tags"), "type": _buckets(aggs, "type")},
    }
    after = page[-1]["sort"] if len(raw_hits) > params.size and page else None
    return result, after


def suggest_body_titles(prefix: str, size: int) -> dict:
    return {
        "query": {"bool": {"must": [{"match": {"title.autocomplete": {"query": prefix, "operator": "and"}}}],
                           "filter": [{"term": {"visible": True}}]}},
        "size": size,
        "_source": ["id", "type", "title"],
    }


def suggest_body_tags(prefix: str) -> dict:
    return {
        "query": {"bool": {"filter": [{"term": {"visible": True}}, {"prefix": {"tags": prefix.lower()}}]}},
        "size": 0,
        "aggs": {"tags": {"terms": {"field": "tags", "size": 100}}},
    }


def parse_tag_suggestions(prefix: str, response: dict, size: int) -> list[dict]:
    # a document matched by one tag brings all its tags into the aggregation: keep those with the prefix
    prefix = prefix.lower()
    buckets = response.get("aggregations", {}).get("tags", {}).get("buckets", [])
    return [{"value": b["key"], "count": b["doc_count"]} for b in buckets if b["key"].startswith(prefix)][:size]
