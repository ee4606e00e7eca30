"""Markdown to safe HTML: CommonMark with raw HTML disabled, so user bodies cannot inject markup or scripts."""

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def render(body: str) -> str:
    return _md.render(body)
