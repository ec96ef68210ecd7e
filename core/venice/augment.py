"""Venice's web endpoints: search (``/augment/search``) and reading a page (``/augment/scrape``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.venice.responses import encode, json_object, text, unreadable
from core.venice.transport import Transport

# /augment/search's bounds in the spec: a query of at most 400 characters, 1 to 20 results.
SEARCH_QUERY_CHARS = 400
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class SearchResult:
    """One result of ``/augment/search``: a page's title, address, snippet and (if known) date."""

    title: str
    url: str
    content: str = ""
    date: str | None = None


@dataclass(frozen=True)
class ScrapedPage:
    """What ``/augment/scrape`` read from a page: its address and its content as markdown."""

    url: str
    content: str = field(repr=False)
    format: str = "markdown"


class WebAugment:
    """The web endpoints of ``VeniceClient`` (mixed into it; it sets ``_transport``)."""

    _transport: Transport

    async def web_search(self, query: str, *, limit: int = 5) -> tuple[SearchResult, ...]:
        """``POST /augment/search``: up to ``limit`` (1 to 20) results for ``query``."""
        query = " ".join(query.split())
        if not query:
            raise ValueError("A web search needs a query (an empty one Venice refuses).")
        # The spec takes at most 400 characters: a longer query (a model's) is cut, not refused.
        body = {"query": query[:SEARCH_QUERY_CHARS], "limit": max(1, min(limit, SEARCH_LIMIT))}
        response = await self._transport.send("POST", "/augment/search", content=encode(body))
        items = json_object(response).get("results")
        if not isinstance(items, list):
            raise unreadable(response, "search answer without results")
        results = []
        for item in items:
            url = item.get("url") if isinstance(item, dict) else None
            if not isinstance(url, str) or not url:
                continue  # nothing to cite or read without an address
            results.append(
                SearchResult(
                    title=text(item.get("title")) or url,
                    url=url,
                    content=text(item.get("content")),
                    date=text(item.get("date")) or None,
                )
            )
        return tuple(results)

    async def scrape(self, url: str) -> ScrapedPage:
        """``POST /augment/scrape``: a web page's content as markdown, read by Venice."""
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError(f"Only http(s) addresses can be read, not {url[:100]!r}.")
        response = await self._transport.send("POST", "/augment/scrape", content=encode({"url": url}))
        data = json_object(response)
        content = data.get("content")
        if not isinstance(content, str):
            raise unreadable(response, "scrape answer without content")
        return ScrapedPage(
            url=text(data.get("url")) or url, content=content, format=text(data.get("format")) or "markdown"
        )
