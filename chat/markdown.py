"""Markdown to HTML for chat messages. Raw HTML in the text is escaped, never passed through, and only links and
images to the web (http, https), to e-mail (mailto) or to a page of this site (a relative URL) are made: an
allowlist, so that javascript:, data: and every other scheme stay plain text."""

import re

from markdown_it import MarkdownIt

SAFE_SCHEMES = {"http", "https", "mailto"}
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _safe_link(url: str) -> bool:
    """markdown-it's own check refuses a few known schemes only; any other (found by fuzz/chat_markdown.py,
    e.g. <httpstps://...>) became a link."""
    scheme = SCHEME.match(url.strip())
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


_renderer.validateLink = _safe_link


def render_markdown(text: str) -> str:
    return _renderer.render(text)
