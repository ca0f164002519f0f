"""Opt-in web tools: read a page, search the web. They need the network, so nothing offers them
by default; import them and pass them to an agent (``pip install 'smoldepot_jupyter[web]'``
brings ddgs for search and markdownify for tidier pages).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html.parser import HTMLParser

from .decorator import tool

__all__ = ["page_text", "visit_webpage", "web_search"]

_MAX_BYTES = 2_000_000
_MAX_CHARS = 20_000
_SKIPPED_TAGS = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section"}


class _TextOfPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The readable text of an HTML page: Markdown with markdownify, else plain text."""
    try:
        from markdownify import markdownify

        text = markdownify(html, strip=["script", "style"])
    except ImportError:
        parser = _TextOfPage()
        parser.feed(html)
        text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@tool
def visit_webpage(url: str) -> str:
    """Read a web page and return its text (long pages are cut, saying how much).

    Args:
        url: The page's address, starting with http:// or https://.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not a web address: it must start with http:// or https://")
    request = urllib.request.Request(url, headers={"User-Agent": "smoldepot_jupyter"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            body = response.read(_MAX_BYTES + 1)
            charset = response.headers.get_content_charset() or "utf-8"
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"could not fetch {url}: {reason}") from None
    text = body[:_MAX_BYTES].decode(charset, errors="replace")
    if kind in ("text/html", "application/xhtml+xml"):
        text = page_text(text)
    if len(text) > _MAX_CHARS:
        cut = len(text) - _MAX_CHARS
        text = f"{text[:_MAX_CHARS]}\n[... {cut:,} more characters not shown]"
    return text


@tool
def web_search(query: str, max_results: int = 5) -> str:
    """Search the web and return the top results: title, address and a snippet each.

    Args:
        query: What to search for.
        max_results: How many results to return (1 to 20).
    """
    try:
        from ddgs import DDGS
    except ImportError:
        raise RuntimeError(
            "web_search needs the optional 'web' extra: pip install 'smoldepot_jupyter[web]'"
        ) from None
    count = max(1, min(int(max_results), 20))
    results = list(DDGS().text(query, max_results=count))
    if not results:
        return f"No results for {query!r}."
    lines = []
    for number, item in enumerate(results, start=1):
        lines.append(f"{number}. {item.get('title', '')}\n   {item.get('href', '')}")
        if item.get("body"):
            lines.append(f"   {item['body']}")
    return "\n".join(lines)
