"""Fuzz target: the chat's Markdown rendering (`chat.markdown.render_markdown`), any text in -> safe HTML out.

The bytes are read as UTF-8 (undecodable bytes replaced), as a message's text reaches the renderer. The HTML is
parsed with the standard library's parser; a crash is an exception, or any element markdown-it's CommonMark
renderer (with tables) does not emit, any attribute outside the few it writes (never an `on...` handler), a style
other than a table cell's alignment, or a link or image whose scheme is not http, https or mailto, as a browser
would read the URL (entities decoded, tabs and newlines dropped, leading controls and spaces stripped).
"""

import re
from html.parser import HTMLParser

import harness

harness.start_django(database=False)

from chat.markdown import render_markdown  # noqa: E402

ALLOWED_TAGS = {
    *("p", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "hr", "br", "a", "img"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td"),
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}, "code": {"class"}}
CELL_ALIGNMENT = re.compile(r"text-align:(left|right|center)")
ALLOWED_SCHEMES = {"http", "https", "mailto"}
SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see in an attribute's (already entity-decoded) value, or None if relative."""
    url = re.sub(r"[\t\n\r]", "", url).strip("".join(map(chr, range(0x21))))
    match = SCHEME.match(url)
    return match.group(1).lower() if match else None


class UnsafeHtml(AssertionError):
    pass


class Checker(HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            raise UnsafeHtml(f"<{tag}> in the output")
        for name, value in attrs:
            allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"style"} if tag in ("th", "td") else set())
            if name not in allowed or name.startswith("on"):
                raise UnsafeHtml(f"<{tag} {name}=...> in the output")
            if name == "style" and not CELL_ALIGNMENT.fullmatch(value or ""):
                raise UnsafeHtml(f"<{tag} style={value!r}> in the output")
            if name in ("href", "src") and url_scheme(value or "") not in ALLOWED_SCHEMES | {None}:
                raise UnsafeHtml(f"<{tag} {name}={value!r}> in the output")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data):
        raise UnsafeHtml(f"a comment <!--{data}--> in the output")

    def handle_decl(self, decl):
        raise UnsafeHtml(f"a declaration <!{decl}> in the output")

    def handle_pi(self, data):
        raise UnsafeHtml(f"a processing instruction <?{data}> in the output")


def test_one_input(data: bytes) -> None:
    html = render_markdown(data.decode("utf-8", errors="replace"))
    checker = Checker(convert_charrefs=True)
    checker.feed(html)
    checker.close()


if __name__ == "__main__":
    harness.fuzz(test_one_input)
