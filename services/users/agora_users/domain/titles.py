"""Honor titles: the built-in catalogue, and how title names compare (case and separators do not matter)."""

import re

BUILT_IN_TITLES = ("contributor", "member", "talented speaker", "ambassador")
MAX_TITLE_LENGTH = 60
# a title's scope: "tag:<tag>" (the community's expert for that tag); tags are the content service's slugs
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9.+#_-]{0,34}$")


def title_key(title: str) -> str:
    """'Talented_Speaker', 'talented-speaker' and ' talented  speaker ' are the same title."""
    return re.sub(r"[\s_\-]+", " ", title).strip().casefold()


def clean_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip()


def clean_scope(scope: str) -> str | None:
    """'tag:Kubernetes' -> 'tag:kubernetes' (a tag as the content service spells it: lower case, spaces as '-');
    None if it is no valid scope."""
    kind, _, value = scope.strip().partition(":")
    kind = kind.strip().casefold()
    if kind == "tag":
        tag = value.strip().lower().replace(" ", "-")
        return f"tag:{tag}" if TAG_RE.match(tag) else None
    return None

