"""Pure rules: tags, permissions, vote arithmetic, markdown safety (cursors: the kernel's test_pagination)."""


import pytest
from agora_common.auth import Principal
from agora_common.errors import Forbidden, Gone, InvalidInput
from agora_content.domain import rules
from agora_content.domain.markdown import render

ALICE = Principal(id="alice", roles=["member"])
BOB = Principal(id="bob", roles=["member"])
MOD = Principal(id="mod", roles=["moderator"])


def test_tags_are_normalised_deduplicated_and_limited():
    assert rules.normalize_tags([" KubeSphere ", "kubesphere", "Dev Ops", "c++"]) == ["kubesphere", "dev-ops", "c++"]
    with pytest.raises(InvalidInput):
        rules.normalize_tags(["bad/tag"])
    with pytest.raises(InvalidInput):
        rules.normalize_tags(["a", "b", "c", "d", "e", "f"])


@pytest.mark.parametrize(
    "previous, new, expected",
    [(0, 1, (1, 1, 0)), (0, -1, (-1, 0, 1)), (1, -1, (-2, -1, 1)), (-1, 1, (2, 1, -1)), (1, 0, (-1, -1, 0)),
     (-1, 0, (1, 0, -1)), (1, 1, (0, 0, 0))],
)
def test_vote_delta(previous, new, expected):
    d = rules.vote_delta(previous, new)
    assert (d.score, d.up, d.down) == expected


def test_visibility_and_permissions():
    post = {"author_id": "alice", "deleted": False, "hidden": False, "status": "published"}
    assert rules.visible_to(post, None)
    hidden = {**post, "hidden": True}
    assert not rules.visible_to(hidden, BOB) and rules.visible_to(hidden, ALICE) and rules.visible_to(hidden, MOD)
    assert not rules.visible_to({**post, "status": "draft"}, None)
    with pytest.raises(Forbidden):
        rules.ensure_can_vote(post, ALICE)
    rules.ensure_can_vote(post, BOB)
    with pytest.raises(Gone):
        rules.ensure_can_vote({**post, "deleted": True}, BOB)
    with pytest.raises(Forbidden):
        rules.ensure_can_edit(post, BOB)
    rules.ensure_can_edit(post, MOD)
    deleted_by_mod = {**post, "deleted": True, "deleted_by": "mod"}
    with pytest.raises(Forbidden):
        rules.ensure_can_restore(deleted_by_mod, ALICE)
    rules.ensure_can_restore({**post, "deleted": True, "deleted_by": "alice"}, ALICE)
    assert not rules.is_author({"author_id": None}, Principal(id="x", roles=[]))  # anonymised posts have no author


def test_markdown_is_rendered_without_raw_html():
    html = render("**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html and "<script>" not in html and 'href="javascript' not in html
