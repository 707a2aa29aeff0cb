"""Markdown to HTML for chat messages. Raw HTML in the text is escaped, never passed through, and links with
unsafe schemes (javascript:, data: and the like) are not made into links."""

from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> str:
    return _renderer.render(text)
