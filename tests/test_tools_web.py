"""The opt-in web tools, against a page served on 127.0.0.1 (no outside network is used)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smoldepot_jupyter.tools.web import page_text, visit_webpage, web_search

PAGE = b"""<html><head><title>t</title><style>.x{}</style></head><body>
<h1>Tide tables</h1><script>var secret = 1;</script>
<p>High water at <b>06:12</b>.</p><ul><li>Low water 12:30</li></ul></body></html>"""


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/tides":
            body, kind, status = PAGE, "text/html; charset=utf-8", 200
        elif self.path == "/big":
            body, kind, status = b"x" * 50_000, "text/plain", 200
        else:
            body, kind, status = b"gone", "text/plain", 404
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_visit_webpage_returns_the_readable_text_without_scripts(site):
    text = visit_webpage(f"{site}/tides")
    assert "Tide tables" in text and "06:12" in text and "Low water 12:30" in text
    assert "secret" not in text and ".x{}" not in text


def test_visit_webpage_cuts_long_pages_saying_how_much(site):
    text = visit_webpage(f"{site}/big")
    assert text.endswith("[... 30,000 more characters not shown]")


def test_visit_webpage_reports_http_errors_clearly(site):
    with pytest.raises(RuntimeError, match="answered 404"):
        visit_webpage(f"{site}/missing")


def test_visit_webpage_refuses_what_is_not_a_web_address():
    with pytest.raises(ValueError, match="not a web address"):
        visit_webpage("file:///etc/passwd")


def test_page_text_keeps_blocks_on_their_own_lines():
    lines = [line.strip() for line in page_text("<p>one</p><p>two</p>").splitlines()]
    assert [line for line in lines if line] == ["one", "two"]


def test_web_search_without_the_extra_says_how_to_install_it():
    try:
        import ddgs  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"smoldepot_jupyter\[web\]"):
            web_search("tides")
    else:
        pytest.skip("ddgs is installed; searching would need the network")


def test_web_tools_are_tools_with_documented_inputs():
    assert visit_webpage.name == "visit_webpage" and "url" in visit_webpage.inputs
    assert web_search.inputs["max_results"]["type"] == "integer"
