"""Reading Venice's answers: a JSON body, or the typed error for one that cannot be read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from core.venice.errors import UnreadableAnswer
from core.venice.types import dumps


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object (a bare list comes as ``{"data": [...]}``)."""
    try:
        data = response.json()
    except ValueError:
        raise unreadable(response, "response is not JSON") from None
    return data if isinstance(data, dict) else {"data": data}


def encode(body: Mapping[str, Any]) -> bytes:
    """A JSON request body, compact, as sent on the wire."""
    return dumps(dict(body)).encode()


def unreadable(response: httpx.Response, why: str = "response is unreadable") -> UnreadableAnswer:
    """The error for an answer that is not what the spec says, with what identifies it."""
    return UnreadableAnswer(
        why,
        status=response.status_code,
        cf_ray=response.headers.get("cf-ray"),
        content_type=response.headers.get("content-type", "").split(";")[0].strip(),
    )


def text(value: Any) -> str:
    """A string field's value; "" when it is missing or not a string."""
    return value if isinstance(value, str) else ""
