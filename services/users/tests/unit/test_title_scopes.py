"""Scopes of honor titles: "tag:<tag>", the tag spelt as the content service spells it."""

import pytest
from agora_users.domain.titles import clean_scope


@pytest.mark.parametrize(("raw", "clean"), [
    ("tag:kubernetes", "tag:kubernetes"), (" TAG:Kubernetes ", "tag:kubernetes"), ("tag:c++", "tag:c++"),
    ("tag:machine learning", "tag:machine-learning"), ("tag:", None), ("tag:-x", None), ("sig:storage", None),
    ("kubernetes", None), ("tag:" + "x" * 36, None), ("tag:a/b", None),
])
def test_scopes(raw, clean):
    assert clean_scope(raw) == clean
