"""Honor titles: the built-in catalogue, and how title names compare (case and separators do not matter)."""

import re

BUILT_IN_TITLES = ("contributor", "member", "talented speaker", "ambassador")
MAX_TITLE_LENGTH = 60


def title_key(title: str) -> str:
    """'Talented_Speaker', 'talented-speaker' and ' talented  speaker ' are the same title."""
    return re.sub(r"[\s_\-]+", " ", title).strip().casefold()


def clean_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip()
