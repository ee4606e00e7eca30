"""Hits name the people behind them: accepted answers' authors, and the post's tags its author and its accepted
answer's author are the community's experts of."""

from agora_search.adapters.member_names import Member, _member
from agora_search.domain import query as q


def test_expert_tags_are_the_posts_tags_the_person_is_an_expert_of():
    hits = [{"id": "q1", "tags": ["kafka", "go"], "author_id": "alice", "author_expert_tags": [],
             "accepted_answer": {"id": "a1", "author_id": "bob", "author_display_name": None,
                                 "author_expert_tags": []}},
            {"id": "r1", "tags": ["python"], "author_id": "bob", "author_expert_tags": [], "accepted_answer": None},
            {"id": "q2", "tags": ["kafka"], "author_id": None, "author_expert_tags": [],
             "accepted_answer": {"id": "a2", "author_id": "ghost", "author_display_name": None,
                                 "author_expert_tags": []}}]
    assert q.people(hits) == {"alice", "bob", "ghost"}
    q.describe_people(hits, {"alice": Member("Alice", frozenset({"go"})),
                             "bob": Member("Bob", frozenset({"kafka", "rust"}))})
    assert [(h["author_expert_tags"], h["accepted_answer"]) for h in hits] == [
        (["go"], {"id": "a1", "author_id": "bob", "author_display_name": "Bob", "author_expert_tags": ["kafka"]}),
        ([], None),
        ([], {"id": "a2", "author_id": "ghost", "author_display_name": None, "author_expert_tags": []})]


def test_only_tag_scopes_make_expert_tags():
    member = _member({"display_name": "Bob", "scoped_titles": ["tag:kafka|Expert", "tag:kafka|Mentor",
                                                               "tag:go|Expert", "sig:s1|Lead"]})
    assert member == Member("Bob", frozenset({"kafka", "go"}))
