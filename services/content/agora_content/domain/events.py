"""Building the published events from post documents: every event says who wrote the post and its tags."""

from agora_common.events import DomainEvent, Envelope


def post_ref(post: dict) -> dict:
    return {
        "post_id": post["_id"],
        "post_type": post["type"],
        "author_id": post.get("author_id"),
        "tags": list(post.get("tags", [])),
        "sig_id": post.get("sig_id"),
        "question_id": post.get("question_id"),
    }


def envelope(event: DomainEvent, post: dict, actor: str | None) -> Envelope:
    """Subject is the post; version is the post's version after the change (so it increases per post)."""
    return Envelope.wrap(event, subject=post["_id"], version=post["version"], actor=actor)
