"""Typed Venice API errors: one class per status, parsed from either error body shape."""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import BotError
from core.network import ConnectionFailure


class VeniceError(BotError):
    """A request to Venice failed; ``user_message`` says what it means for the user.

    Attributes:
        status: the HTTP status, or None when no response arrived.
        api_message: Venice's own message, for logs and never for users: it can echo the request,
            keys included, so anything key-like is redacted and it is cut to 300 characters.
        code: Venice's error code when it sends one (``INVALID_MODEL``, ``context_length_exceeded``…).
        cf_ray: the ``CF-RAY`` request id that Venice support asks for.
        retry_after: seconds after which a retry may succeed, when known.
    """

    status: int | None = None
    default_user_message = "Venice could not answer this request."

    def __init__(
        self,
        api_message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        cf_ray: str | None = None,
        retry_after: float | None = None,
        user_message: str | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.api_message = redacted(api_message)
        self.code = code
        self.cf_ray = cf_ray
        self.retry_after = retry_after
        text = user_message or self.default_user_message
        if cf_ray:
            text = f"{text} (Venice request id: {cf_ray})"
        detail = f"Venice {self.status or 'network'} {code or ''}: {self.api_message}".replace("  ", " ")
        super().__init__(text, detail=detail)


class BadRequest(VeniceError):
    """400: Venice refused the request as invalid."""

    status = 400
    default_user_message = "Venice refused the request as invalid."


class ContextLengthExceeded(BadRequest):
    """400 with ``context_length_exceeded``: the conversation no longer fits the model."""

    default_user_message = (
        "This conversation no longer fits the model's context. Send /reset to start afresh."
    )


class InvalidModel(BadRequest):
    """400 ``INVALID_MODEL``: the chosen model does not exist (any more)."""

    default_user_message = "Venice does not know this model any more. Pick another with /model."


class AuthenticationFailed(VeniceError):
    """401: the API key is wrong, inactive, or lacks access to the model."""

    status = 401
    default_user_message = (
        "Venice rejected the bot's API key (or the model needs a Pro key). "
        "The bot's admin needs to check VENICE_API_KEY."
    )


class InsufficientBalance(VeniceError):
    """402: the Venice account or the key's spend limit is exhausted."""

    status = 402
    default_user_message = (
        "The Venice account behind this bot is out of credit. The bot's admin has to top it up."
    )


class NotFound(VeniceError):
    """404: unknown model, character or resource."""

    status = 404
    default_user_message = "Venice does not know what was asked for (model or character)."


class PayloadTooLarge(VeniceError):
    """413: the request body is too large."""

    status = 413
    default_user_message = "That is too large for Venice to accept."


class UnsupportedMediaType(VeniceError):
    """415: wrong content type."""

    status = 415
    default_user_message = "Venice does not accept this kind of file."


class Unprocessable(VeniceError):
    """422: content policy, bad audio, image too large and the like."""

    status = 422
    default_user_message = "Venice could not process this (content policy or unreadable input)."


class RateLimited(VeniceError):
    """429: too many requests or the model is overloaded."""

    status = 429
    default_user_message = "Venice is busy right now (rate limit). Please try again shortly."

    def __init__(self, api_message: str = "", **kwargs: Any) -> None:
        retry_after = kwargs.get("retry_after")
        if retry_after and "user_message" not in kwargs:
            kwargs["user_message"] = (
                f"Venice is busy right now (rate limit). Try again in {int(retry_after + 0.999)} s."
            )
        super().__init__(api_message, **kwargs)


class ServerError(VeniceError):
    """500: Venice failed internally."""

    status = 500
    default_user_message = "Venice had an internal error. Please try again."


class ServiceUnavailable(VeniceError):
    """503: the model is at capacity or offline."""

    status = 503
    default_user_message = "The model is at capacity or offline right now. Try again in a minute."


class GatewayTimeout(VeniceError):
    """504: Venice timed out."""

    status = 504
    default_user_message = "Venice took too long to answer. Try again, or ask for something shorter."


class VeniceUnreachable(VeniceError):
    """No response at all: DNS, connection refused, reset or timed out; ``cause`` says which."""

    default_user_message = "The bot cannot reach Venice right now. Please try again in a moment."

    def __init__(
        self, api_message: str = "", *, cause: ConnectionFailure | None = None, **kwargs: Any
    ) -> None:
        super().__init__(api_message, **kwargs)
        self.cause = cause or ConnectionFailure("other", api_message or "no response")


class UnreadableAnswer(VeniceError):
    """Venice (or whatever answers at VENICE_BASE_URL) sent a body that is not what the API sends."""

    default_user_message = "Venice sent an answer the bot cannot read."

    def __init__(self, api_message: str = "", *, content_type: str = "", **kwargs: Any) -> None:
        super().__init__(api_message, **kwargs)
        self.content_type = content_type


class TooManyFailures(VeniceError):
    """Refused locally: Venice failed so often lately that more calls would get the key blocked."""

    default_user_message = (
        "Venice has been failing repeatedly; the bot is pausing requests to protect its key. "
        "Try again in about half a minute."
    )


class StreamInterrupted(VeniceError):
    """The answer stream broke off after it had started; ``partial`` holds what arrived."""

    default_user_message = "The connection to Venice broke off; the answer is incomplete."

    def __init__(self, api_message: str = "", *, partial: str = "", **kwargs: Any) -> None:
        super().__init__(api_message, **kwargs)
        self.partial = partial


class StreamTooSlow(StreamInterrupted):
    """The answer did not finish within VENICE_TIMEOUT_SECONDS; ``partial`` holds what arrived."""

    default_user_message = "Venice took too long to answer, so the bot stopped waiting."


class StreamUnreadable(StreamInterrupted):
    """An event of the answer stream is not what Venice sends; ``partial`` holds what came before."""

    default_user_message = "Venice sent part of its answer in a form the bot cannot read."


_BY_STATUS: dict[int, type[VeniceError]] = {
    int(cls.status or 0): cls
    for cls in (
        BadRequest,
        AuthenticationFailed,
        InsufficientBalance,
        NotFound,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        RateLimited,
        ServerError,
        ServiceUnavailable,
        GatewayTimeout,
    )
}


def parse_error_body(raw: bytes) -> tuple[str, str | None]:
    """Return (message, code) from either of Venice's error shapes, or from a non-JSON body."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        text = raw[:200].decode("utf-8", "replace").strip()
        return (text or "no error message", None)
    if not isinstance(body, dict):
        return (str(body)[:200], None)
    error = body.get("error")
    code = body.get("code")
    if isinstance(error, dict):  # OpenAI style: {"error": {"message", "type", "code"}}
        message = str(error.get("message") or error.get("type") or "unknown error")
        code = error.get("code") or error.get("type") or code
    elif error is not None:
        message = str(error)
    else:
        message = str(body.get("message") or body.get("detail") or "unknown error")
    if isinstance(body.get("issues"), list) and body["issues"]:
        first = body["issues"][0]
        if isinstance(first, dict) and first.get("message"):
            path = ".".join(str(p) for p in first.get("path", []))
            message = f"{message}: {path + ' ' if path else ''}{first['message']}"
    return (message, str(code) if code is not None else None)


def error_for_status(
    status: int,
    raw: bytes,
    *,
    cf_ray: str | None = None,
    retry_after: float | None = None,
) -> VeniceError:
    """Build the typed error for an HTTP error response."""
    message, code = parse_error_body(raw)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BadRequest
    if cls is BadRequest:
        if code == "context_length_exceeded" or "context length" in message.lower():
            cls = ContextLengthExceeded
        elif code == "INVALID_MODEL":
            cls = InvalidModel
    # The user is told what the status means, never Venice's words: they can echo the request.
    extra = {}
    if code == "provider_content_policy" or "content policy" in message.lower():
        extra["user_message"] = "Venice's content policy does not allow this. Try a different description."
    return cls(message, status=status, code=code, cf_ray=cf_ray, retry_after=retry_after, **extra)


MAX_LOGGED_MESSAGE = 300  # characters of Venice's message kept for the log
_SCANNED = 4 * MAX_LOGGED_MESSAGE
_TRAILING_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]+$")
_REDACTED = "[redacted]"
_KEY_LIKE = (
    # "Authorization: Bearer …", "bearer=…"
    (re.compile(r"(?i)\b(bearer)(\s+|=)[^\s\"',;}]+"), rf"\1\2{_REDACTED}"),
    # "api_key": "…", token=…, password: … (the name stays, the value goes)
    (
        re.compile(
            r"(?i)(\w*(?:key|token|secret|password|passwd|authorization|credential)s?[\"']?\s*[:=]\s*[\"']?)"
            r"(?!bearer\b|\[redacted\])[^\s\"',;}]+"
        ),
        rf"\1{_REDACTED}",
    ),
    # Prefixed keys: sk-…, vk-…, VENICE-INFERENCE-KEY-…
    (re.compile(r"(?i)\b(?:[sprv]k|venice[-_](?:[a-z]+[-_])*key)[-_][A-Za-z0-9_-]{8,}"), _REDACTED),
    # Long hex runs (hashes, raw keys) and long base64 or base64url runs with letters and digits.
    (re.compile(r"\b[0-9A-Fa-f]{16,}\b"), _REDACTED),
    (re.compile(r"(?=[A-Za-z+/_-]*\d)(?=[\d+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}=*"), _REDACTED),
)


def redacted(message: str) -> str:
    """Venice's message fit for a log: key-like strings replaced, at most 300 characters."""
    if len(message) > _SCANNED:  # the patterns look ahead: a megabyte-long message is cut first,
        message = _TRAILING_TOKEN.sub("", message[:_SCANNED]) + "…"  # and never in a key's middle
    for pattern, replacement in _KEY_LIKE:
        message = pattern.sub(replacement, message)
    message = " ".join(message.split())  # one log line, whatever Venice sent
    if len(message) > MAX_LOGGED_MESSAGE:
        message = message[: MAX_LOGGED_MESSAGE - 1] + "…"
    return message
