"""Pure content rules: who may do what to a post, tag normalisation, vote arithmetic. No I/O."""

import re
from dataclasses import dataclass
from typing import Literal

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound

PostType = Literal["question", "answer", "article", "comment"]
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9.+#_-]{0,34}$")
MAX_TAGS = 5


def normalize_tags(tags: list[str]) -> list[str]:
    """Lower-case, trimmed, de-duplicated (first occurrence wins), at most MAX_TAGS, each a slug."""
    seen: list[str] = []
    for raw in tags:
        tag = raw.strip().lower().replace(" ", "-")
        if not TAG_RE.match(tag):
            raise InvalidInput(f"invalid tag {raw!r}: use 1-35 of a-z 0-9 . + # _ -", code="invalid_tag")
        if tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", code="too_many_tags")
    return seen


def is_moderator(user: Principal | None) -> bool:
    return user is not None and user.has("moderator")


def is_author(post: dict, user: Principal | None) -> bool:
    return user is not None and post.get("author_id") is not None and post["author_id"] == user.id


def visible_to(post: dict, user: Principal | None) -> bool:
    """Deleted, hidden and unpublished posts are seen only by their author and moderators."""
    if is_author(post, user) or is_moderator(user):
        return True
    return not post.get("deleted") and not post.get("hidden") and post.get("status", "published") == "published"


def ensure_visible(post: dict | None, user: Principal | None, what: str = "post") -> dict:
    if post is None or not visible_to(post, user):
        raise NotFound(f"{what} not found")
    return post


def ensure_can_edit(post: dict, user: Principal) -> None:
    if not (is_author(post, user) or is_moderator(user)):
        raise Forbidden("only the author or a moderator can change this post", code="not_author")
    if post.get("deleted"):
        raise Gone("the post is deleted; restore it first", code="post_deleted")


def ensure_can_delete(post: dict, user: Principal) -> None:
    if not (is_author(post, user) or is_moderator(user)):
        raise Forbidden("only the author or a moderator can delete this post", code="not_author")


def ensure_can_restore(post: dict, user: Principal) -> None:
    """Authors restore what they deleted themselves; only moderators undo a moderator's deletion."""
    if is_moderator(user):
        return
    if is_author(post, user) and post.get("deleted_by") == user.id:
        return
    raise Forbidden("only a moderator can restore this post", code="not_allowed")


def ensure_interactable(post: dict) -> None:
    """Votes, answers, comments and flags need a live, public post."""
    if post.get("deleted"):
        raise Gone("the post is deleted", code="post_deleted")
    if post.get("hidden"):
        raise Gone("the post is hidden by a moderator", code="post_hidden")
    if post.get("status", "published") != "published":
        raise Conflict("the article is not published", code="not_published")


def ensure_can_vote(post: dict, user: Principal) -> None:
    if is_author(post, user):
        raise Forbidden("you cannot vote on your own post", code="own_post")
    ensure_interactable(post)


@dataclass(frozen=True)
class VoteDelta:
    score: int
    up: int
    down: int


def vote_delta(previous: int, new: int) -> VoteDelta:
    """Change of (score, upvotes, downvotes) when a voter's vote goes from previous to new (0 = no vote)."""
    return VoteDelta(score=new - previous, up=(new == 1) - (previous == 1), down=(new == -1) - (previous == -1))
