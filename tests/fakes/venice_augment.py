"""``POST /augment/search`` and ``POST /augment/scrape`` of the fake Venice: the web, made up.

``AugmentEndpoints`` is mixed into ``FakeVenice`` (over ``MediaEndpoints``, whose balance and
``_spend`` it shares). Answers are deterministic: a search gives numbered results about its query
(or ``fake.search_results`` when a test sets them), a scrape gives a small markdown page about its
address (or ``fake.pages[url]``). Sites Venice rejects (X/Twitter, Reddit) are a 400, as its docs
say. Each success costs Venice's documented $0.01. Fail them with ``fake.fail("/augment/search",
500)`` like any other path; every call is in ``fake.calls_to("/augment/search")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from tests.fakes.venice_errors import default_error_body, error_response, field_error
from tests.fakes.venice_media import MediaEndpoints

if TYPE_CHECKING:
    from tests.fakes.venice import Call

__all__ = ["AUGMENT_SCRAPE_USD", "AUGMENT_SEARCH_USD", "BLOCKED_HOSTS", "AugmentEndpoints"]

AUGMENT_SEARCH_USD = 0.01  # Venice's docs: "$0.01 per request"
AUGMENT_SCRAPE_USD = 0.01
DEFAULT_SEARCH_LIMIT = 10  # the spec's default
# "Some sites that block automated access (e.g. X/Twitter, Reddit) are rejected immediately with a 400."
BLOCKED_HOSTS = ("x.com", "twitter.com", "reddit.com")


class AugmentEndpoints(MediaEndpoints):
    """Venice's web search and page scraping for the fake."""

    def _init_augment(self) -> None:
        """Set the endpoints' state to its defaults (called from FakeVenice.__init__)."""
        self.search_results: list[dict[str, Any]] | None = None  # None: made up from the query
        self.pages: dict[str, str] = {}  # url -> the markdown a scrape of it returns
        self.searches: list[str] = []  # the queries answered (and charged), in order
        self.scraped: list[str] = []  # the addresses scraped (and charged), in order

    def _augment_routes(self) -> list[tuple[str, str, Any]]:
        """Return (method, path template, handler) for search and scrape."""
        return [("POST", "/augment/search", self._search), ("POST", "/augment/scrape", self._scrape)]

    def _search(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = call.body if isinstance(call.body, dict) else {}
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return error_response(400, field_error("query", "Required"), headers)
        refused = self._unpaid(headers)
        if refused is not None:
            return refused
        limit = body.get("limit")
        limit = limit if isinstance(limit, int) and limit > 0 else DEFAULT_SEARCH_LIMIT
        results = self.search_results if self.search_results is not None else _made_up_results(query)
        self.searches.append(query)
        self._spend(AUGMENT_SEARCH_USD)
        return JSONResponse({"query": query, "results": results[:limit]}, headers=headers)

    def _scrape(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = call.body if isinstance(call.body, dict) else {}
        url = body.get("url")
        if not isinstance(url, str) or not url:
            return error_response(400, field_error("url", "Required"), headers)
        host = (urlsplit(url).hostname or "").lower()
        if any(host == blocked or host.endswith("." + blocked) for blocked in BLOCKED_HOSTS):
            return error_response(
                400, field_error("url", f"Scraping {host} is not supported: the site blocks it"), headers
            )
        refused = self._unpaid(headers)
        if refused is not None:
            return refused
        content = self.pages.get(url)
        if content is None:
            content = (
                f"# A page at {host or url}\n\nOffline stand-in text of {url}, read by the fake Venice.\n"
            )
        self.scraped.append(url)
        self._spend(AUGMENT_SCRAPE_USD)
        return JSONResponse({"url": url, "content": content, "format": "markdown"}, headers=headers)

    def _unpaid(self, headers: dict[str, str]) -> Response | None:
        """Venice's 402 when the account cannot pay, else None."""
        if self.balance.get("canConsume", True):
            return None
        error = default_error_body(402, "")
        return error_response(402, error if isinstance(error, dict) else {"error": error}, headers)


def _made_up_results(query: str) -> list[dict[str, Any]]:
    """Twenty numbered results about ``query`` (the spec's most), each with a snippet and a date."""
    words = " ".join(query.split())
    return [
        {
            "title": f"Result {n} about {words}",
            "url": f"https://example.com/search/{n}?q={'+'.join(query.split())}",
            "content": f"Offline stand-in snippet {n} about {words}.",
            "date": f"2025-01-{n:02d}T00:00:00",
        }
        for n in range(1, 21)
    ]
