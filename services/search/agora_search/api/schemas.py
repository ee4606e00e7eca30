"""Response models of the search API (the contract other services and the web client code against)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AcceptedAnswer(BaseModel):
    id: str
    author_id: str | None = Field(description="null once the author's account is deleted")
    author_display_name: str | None = Field(
        description="the author's display name as the users service last announced it; null if not known (yet)")
    author_expert_tags: list[str] = Field(
        default_factory=list, description="the question's tags the author is one of the community's experts of "
                                          '(an honor title with the scope "tag:<tag>")')


class SearchHit(BaseModel):
    id: str
    type: Literal["question", "article"]
    title: str = Field(description="plain title")
    snippet: str = Field(description="HTML-safe excerpt; matched words are wrapped in <em>")
    highlight: dict[str, list[str]] = Field(
        description="HTML-safe fragments with <em> marks, per field: title, body, answers_text (only matched fields)"
    )
    tags: list[str]
    author_id: str | None
    author_expert_tags: list[str] = Field(
        default_factory=list, description="the post's tags its author is one of the community's experts of (an "
                                          'honor title with the scope "tag:<tag>")')
    sig_id: str | None = Field(None, description="the SIG the post belongs to, if any")
    event_id: str | None = Field(None, description="the online Q&A session a question was asked in, if any")
    score: int = Field(description="net vote score")
    created_at: datetime | None
    answer_count: int | None = Field(None, description="questions only")
    has_accepted_answer: bool | None = Field(None, description="questions only")
    accepted_answer: AcceptedAnswer | None = Field(None, description="a question's accepted answer and who wrote it")
    relevance: float | None = Field(None, description="the engine's relevance score, when sorted by relevance")


class FacetValue(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    tags: list[FacetValue] = Field(description="top tags, counted without the tags filter (other filters apply)")
    type: list[FacetValue] = Field(description="counts per type, counted without the type filter")


class SearchResponse(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: Facets
    next_cursor: str | None = Field(description="pass as cursor= with the same parameters for the next page")


class TitleSuggestion(BaseModel):
    id: str
    type: Literal["question", "article"]
    title: str


class SuggestResponse(BaseModel):
    titles: list[TitleSuggestion]
    tags: list[FacetValue]


class ReindexRead(BaseModel):
    state: Literal["idle", "running", "succeeded", "failed"]
    index: str | None
    replaced: list[str]
    events_read: int
    events_total: int
    documents_written: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
