"""What works on any post: votes, comments, flags, revisions, delete and restore."""

from agora_common.auth import CurrentUser, OptionalUser
from agora_common.idempotency import IdempotencyKey, replayed_header
from fastapi import APIRouter, Depends, Response

from agora_content.api.deps import ERRORS, StoreDep, limit_body_size
from agora_content.api.schemas import (
    CommentCreate,
    CommentRead,
    FlagCreate,
    FlagRead,
    PostRead,
    RevisionRead,
    VoteRead,
    VoteRequest,
)
from agora_content.service import moderation, posts, queries, votes

router = APIRouter(prefix="/posts", tags=["posts"], responses=ERRORS,
                   dependencies=[Depends(limit_body_size)])


@router.put("/{post_id}/vote", response_model=VoteRead,
            summary="Vote up (1) or down (-1); one vote per member, changeable; not on your own post")
async def vote(post_id: str, body: VoteRequest, user: CurrentUser, store: StoreDep) -> VoteRead:
    post, value = await votes.cast_vote(store=store, user=user, post_id=post_id, value=body.value)
    return VoteRead(post_id=post_id, value=value, score=post["score"], version=post["version"])


@router.delete("/{post_id}/vote", response_model=VoteRead, summary="Retract your vote")
async def retract(post_id: str, user: CurrentUser, store: StoreDep) -> VoteRead:
    post = await votes.retract_vote(store=store, user=user, post_id=post_id)
    return VoteRead(post_id=post_id, value=0, score=post["score"], version=post["version"])


@router.get("/{post_id}/vote", response_model=VoteRead, summary="Your vote on a post")
async def my_vote(post_id: str, user: CurrentUser, store: StoreDep) -> VoteRead:
    post = await queries.get_post(store=store, user=user, post_id=post_id)
    value = await votes.my_vote(store=store, user=user, post_id=post_id)
    return VoteRead(post_id=post_id, value=value, score=post["score"], version=post["version"])


@router.get("/{post_id}", response_model=PostRead, summary="Get any post by id")
async def get_post(post_id: str, store: StoreDep, user: OptionalUser) -> PostRead:
    return PostRead.from_doc(await queries.get_post(store=store, user=user, post_id=post_id))


@router.delete("/{post_id}", response_model=PostRead, summary="Delete (soft; the author or a moderator)")
async def delete(post_id: str, user: CurrentUser, store: StoreDep) -> PostRead:
    return PostRead.from_doc(await posts.delete_post(store=store, user=user, post_id=post_id))


@router.post("/{post_id}/restore", response_model=PostRead,
             summary="Restore a deleted post (its author if they deleted it, or a moderator)")
async def restore(post_id: str, user: CurrentUser, store: StoreDep) -> PostRead:
    return PostRead.from_doc(await posts.restore_post(store=store, user=user, post_id=post_id))


@router.get("/{post_id}/revisions", response_model=list[RevisionRead], summary="Edit history, oldest first")
async def revisions(post_id: str, store: StoreDep, user: OptionalUser) -> list[RevisionRead]:
    docs = await posts.revisions(store=store, user=user, post_id=post_id)
    return [RevisionRead.model_validate(d) for d in docs]


@router.post("/{post_id}/comments", status_code=201, response_model=CommentRead, summary="Comment on a post")
async def comment(post_id: str, body: CommentCreate, user: CurrentUser, store: StoreDep, response: Response,
                  idempotency_key: IdempotencyKey = None) -> CommentRead:
    doc, replayed = await posts.post_comment(
        store=store, user=user, parent_id=post_id, body=body.body, idempotency_key=idempotency_key
    )
    replayed_header(response, replayed)
    return CommentRead.from_doc(doc)


@router.get("/{post_id}/comments", response_model=list[CommentRead], summary="Comments on a post, oldest first")
async def comments(post_id: str, store: StoreDep, user: OptionalUser) -> list[CommentRead]:
    return [CommentRead.from_doc(d) for d in await queries.comments_of(store=store, user=user, parent_id=post_id)]


@router.post("/{post_id}/flags", status_code=201, response_model=FlagRead,
             summary="Flag a post for moderators (once per member while open)")
async def flag(post_id: str, body: FlagCreate, user: CurrentUser, store: StoreDep, response: Response,
               idempotency_key: IdempotencyKey = None) -> FlagRead:
    doc, replayed = await moderation.flag_post(store=store, user=user, post_id=post_id, reason=body.reason,
                                               idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return FlagRead.model_validate(doc)
