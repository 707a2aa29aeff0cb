"""Chat Markdown: links and images only to the web, to e-mail or to this site, whatever the scheme looks like."""

import pytest

from chat.markdown import render_markdown
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a?b=c", "http://example.com", "mailto:a@example.com", "/predictions/1", "page#top"],
)
def test_links_and_images_to_the_web_to_e_mail_and_to_this_site_are_made(url):
    html = render_markdown(f"[link]({url}) ![image]({url})")
    assert f'<a href="{url}">link</a>' in html.replace("&amp;", "&")
    assert f'<img src="{url}" alt="image" />' in html.replace("&amp;", "&")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "vbscript:x",
        "ftp://x/y",
        "tel:+3312345678",
        "httpstps://example.com",
        "chrome-extension://x/y",
    ],
)
def test_links_and_images_with_any_other_scheme_stay_text(url):
    html = render_markdown(f"[link]({url}) ![image]({url}) <{url}>")
    assert f'href="{url}' not in html and f'src="{url}' not in html


def test_the_message_the_fuzzer_found_links_only_to_the_web():
    """fuzz/chat_markdown.py: an autolink with a made-up scheme, <httpstps://...>, became a link."""
    html = render_markdown((FIXTURES / "fuzz" / "markdown-unknown-scheme.md").read_text(errors="replace"))
    assert 'href="httpstps:' not in html
    assert '<a href="https://example.com" title="title">site</a>' in html
