"""Articles: drafts, publishing, edits, unpublishing."""

from typing import Annotated, Literal

from agora_common.auth import CurrentUser, OptionalUser
from agora_common.errors import Unauthorized
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.pagination import Page
from fastapi import APIRouter, Depends, Query, Response

from agora_content.api.deps import ERRORS, IfMatch, StoreDep, limit_body_size
from agora_content.api.schemas import ArticleCreate, ArticleRead, ArticleUpdate
from agora_content.service import posts, queries

router = APIRouter(tags=["articles"], responses=ERRORS,
                   dependencies=[Depends(limit_body_size)])


@router.post("/articles", status_code=201, response_model=ArticleRead, summary="Write an article (a draft)")
async def create(body: ArticleCreate, user: CurrentUser, store: StoreDep, response: Response,
                 idempotency_key: IdempotencyKey = None) -> ArticleRead:
    doc, replayed = await posts.create_article(
        store=store, user=user, title=body.title, body=body.body, tags=body.tags, sig_id=body.sig_id,
        idempotency_key=idempotency_key,
    )
    replayed_header(response, replayed)
    return ArticleRead.from_doc(doc)


@router.get("/articles", response_model=Page[ArticleRead],
            summary="List published articles, or your own drafts/unpublished ones with ?status=")
async def list_articles(
    store: StoreDep,
    user: OptionalUser,
    tag: Annotated[list[str], Query(max_length=5)] = [],  # noqa: B006
    sort: Literal["newest", "votes", "active"] = "newest",
    status: Literal["published", "draft", "unpublished"] = "published",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    author_id: str | None = None,
    sig_id: Annotated[str | None, Query(description="only posts of this SIG")] = None,
) -> Page[ArticleRead]:
    if status != "published":
        if user is None:
            raise Unauthorized("log in to list your drafts")
        author_id = user.id  # drafts are private to their author
    docs, next_cursor = await queries.list_posts(
        store=store, kind="article", tags=tag, sort=sort, cursor=cursor, limit=limit, author_id=author_id,
        sig_id=sig_id,
        status=status,
    )
    return Page[ArticleRead](items=[ArticleRead.from_doc(d) for d in docs], next_cursor=next_cursor)


@router.get("/articles/{article_id}", response_model=ArticleRead, summary="Get an article")
async def get_article(article_id: str, store: StoreDep, user: OptionalUser) -> ArticleRead:
    return ArticleRead.from_doc(await queries.get_post(store=store, user=user, post_id=article_id, kind="article"))


@router.patch("/articles/{article_id}", response_model=ArticleRead, summary="Edit an article (keeps a revision)")
async def edit(article_id: str, body: ArticleUpdate, user: CurrentUser, store: StoreDep,
               if_match: IfMatch = None) -> ArticleRead:
    doc = await posts.edit_post(store=store, user=user, post_id=article_id, kind="article", title=body.title,
                                body=body.body, tags=body.tags, expected_version=if_match)
    return ArticleRead.from_doc(doc)


@router.post("/articles/{article_id}/publish", response_model=ArticleRead, summary="Publish (the author only)")
async def publish(article_id: str, user: CurrentUser, store: StoreDep) -> ArticleRead:
    return ArticleRead.from_doc(await posts.publish_article(store=store, user=user, article_id=article_id))


@router.post("/articles/{article_id}/unpublish", response_model=ArticleRead, summary="Take back to unpublished")
async def unpublish(article_id: str, user: CurrentUser, store: StoreDep) -> ArticleRead:
    return ArticleRead.from_doc(await posts.unpublish_article(store=store, user=user, article_id=article_id))
