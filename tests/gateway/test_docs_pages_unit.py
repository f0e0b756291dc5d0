"""``/docs`` and ``/redoc`` load nothing from outside the gateway: every script, style sheet and
icon they reference is a local path that this gateway answers, and the vendored files are
exactly those recorded in gateway/static/vendor/SOURCES.md (the npm packages' own files).
tests/browser/test_docs_browser.py renders them in Chromium with every outside request refused.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest

from gateway.routes.docs import ASSET_FILES, VENDOR


class _Refs(HTMLParser):
    """Every URL a page makes the browser load: src and href of script, link, img; the spec."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("src", "href", "spec-url"):
                self.urls.append(value)


def _loaded_urls(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    # Swagger UI's spec URL is in its inline script: url: '/openapi.json'
    parser.urls += re.findall(r"\burl: '([^']+)'", html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_local_urls_and_each_answers(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _loaded_urls(r.text)
    assert "/openapi.json" in urls
    assert len(urls) >= 3, urls  # the spec, the script, and at least an icon or a style sheet
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from outside the gateway"
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        assert answer.content


def test_docs_pages_ask_no_outside_service(client):
    swagger = client.get("/docs").text
    assert '"validatorUrl": null' in swagger  # the default badge sends the schema to a public validator
    assert "http://" not in swagger and "https://" not in swagger
    redoc = client.get("/redoc").text
    assert "http://" not in redoc and "https://" not in redoc  # no web fonts, no remote favicon


def test_docs_assets_are_served_with_their_media_type_and_nothing_else_is(client):
    for name, media_type in ASSET_FILES.items():
        r = client.get(f"/docs/assets/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(media_type)
    for name in ("../../main.py", "redoc-2.5.4/LICENSE", "SOURCES.md"):
        assert client.get(f"/docs/assets/{name}").status_code == 404


def test_vendored_files_are_the_packages_files_recorded_in_sources():
    rows = re.findall(r"^\| (\S+) \| [^|]+ \| [^|]+ \| ([0-9a-f]{64}) \|$", (VENDOR / "SOURCES.md").read_text(), re.M)
    recorded = dict(rows)
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - {"SOURCES.md"}
    assert on_disk - set(recorded) <= {"chart.js-LICENSE.md"}, "a vendored file is missing from SOURCES.md"
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, f"{name} was changed"
    for served in ASSET_FILES:  # every file served comes with its package's licence
        assert (VENDOR / served).parent.joinpath("LICENSE").exists()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_may_load_nothing_from_another_host(client, page):
    policy = client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for name in ("default-src", "img-src", "connect-src", "font-src", "style-src", "script-src"):
        sources = directives[name].split()
        assert all(s.startswith("'") or s in ("data:", "blob:") for s in sources), (name, sources)
