"""Error bodies as the real Venice API sends them (docs.venice.ai "Error Codes" and the spec)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.fakes.openapi import SpecIssue

CLOUDFLARE_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)

# The messages are Venice's own, from its error-code table.
_DEFAULT_BODIES: dict[int, dict[str, Any] | str] = {
    400: {"error": "Invalid request parameters", "details": {"_errors": []}, "issues": []},
    401: {"error": "Authentication failed"},
    402: {
        "error": "Insufficient USD or Diem balance to complete request. "
        "Visit https://venice.ai/settings/api to add credits."
    },
    403: {"error": "Unauthorized access"},
    404: {"error": "Specified model not found"},
    413: {
        "error": "The request payload is too large. Please reduce the size of your request.",
        "code": "PAYLOAD_TOO_LARGE",
    },
    415: {"error": "Invalid request content-type"},
    422: {"error": "Your prompt violates the content policy of Venice.ai or the model provider"},
    429: {"error": "Rate limit exceeded"},
    500: {"error": "Inference processing failed"},
    502: CLOUDFLARE_502,
    503: {"error": "The model is at capacity. Please try again later."},
    504: {
        "error": "The request took too long to complete and was timed-out. For long-running inference "
        "requests, use the streaming API by setting `stream=true` in your request."
    },
}

CHARACTER_NOT_FOUND = {"error": "Character not found", "code": "CHARACTER_NOT_FOUND"}
CHAT_CHARACTER_NOT_FOUND = {
    "error": "No character could be found from the provided character_slug",
    "code": "CHARACTER_NOT_FOUND",
}
MODEL_NOT_FOUND = {"error": "Specified model not found", "code": "MODEL_NOT_FOUND"}
INVALID_MODEL = {"error": "Invalid model specified", "code": "INVALID_MODEL"}
INVALID_CONTENT_TYPE = {"error": "Invalid request content-type"}
CONTENT_POLICY = {"error": "Your prompt violates the content policy of Venice.ai or the model provider"}


def error_response(status: int, body: dict[str, Any] | str, headers: dict[str, str]) -> Response:
    """Send an error: a dict as JSON, a str raw (as HTML when it looks like HTML, else plain text)."""
    if isinstance(body, str):
        media = "text/html" if body.lstrip().startswith("<") else "text/plain"
        return Response(body, status_code=status, headers=headers, media_type=media)
    return JSONResponse(body, status_code=status, headers=headers)


def field_error(field: str, message: str) -> dict[str, Any]:
    """Return a 400 body blaming one request field, zod-style like Venice's validation errors."""
    return {"error": message, "details": {"_errors": [], field: {"_errors": [message]}}}


def payload_too_large(limit_bytes: int) -> dict[str, Any]:
    """Return Venice's 413 body for an upload over ``limit_bytes``."""
    return {
        "error": f"File exceeds the maximum allowed size of {limit_bytes // (1024 * 1024)} MB.",
        "code": "PAYLOAD_TOO_LARGE",
    }


def provider_content_policy_error(recommended_model: str | None = None) -> dict[str, Any]:
    """Return the nested 422 body a video job gets when the model's provider refuses it (credits refunded)."""
    error: dict[str, Any] = {
        "message": "The selected model provider rejected this request due to its content policies. "
        "Credits have been refunded.",
        "type": "provider_content_policy",
        "credits_refunded": True,
    }
    if recommended_model:
        error["recommended_model"] = recommended_model
    return {"error": error}


def default_error_body(status: int, path: str) -> dict[str, Any] | str:
    """Return what Venice sends for ``status`` on ``path`` when a test gives no body."""
    if status == 404 and path.startswith("/characters/"):
        return dict(CHARACTER_NOT_FOUND)
    body = _DEFAULT_BODIES.get(status)
    if body is None:
        try:
            return {"error": HTTPStatus(status).phrase}
        except ValueError:
            return {"error": f"HTTP {status}"}
    return dict(body) if isinstance(body, dict) else body


def context_length_error() -> dict[str, Any]:
    """Return the OpenAI-style body Venice sends when the prompt exceeds the model's context."""
    return {
        "error": {
            "message": "Your request exceeds the model's maximum context. "
            "Please reduce your prompt or completion length.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


_ZOD_CODES = {
    "type": "invalid_type",
    "required": "invalid_type",
    "enum": "invalid_enum_value",
    "additionalProperties": "unrecognized_keys",
    "minItems": "too_small",
    "minLength": "too_small",
    "minimum": "too_small",
    "maxItems": "too_big",
    "maxLength": "too_big",
    "maximum": "too_big",
    "anyOf": "invalid_union",
    "oneOf": "invalid_union",
}


def validation_error_body(issues: list[SpecIssue]) -> dict[str, Any]:
    """Return Venice's 400 for a body that fails validation: zod's ``format()`` as details, plus issues."""
    details: dict[str, Any] = {"_errors": []}
    zod_issues = []
    for issue in issues:
        node = details
        for segment in issue.path:
            node = node.setdefault(str(segment), {"_errors": []})
        node["_errors"].append(issue.message)
        entry: dict[str, Any] = {
            "code": _ZOD_CODES.get(issue.keyword, "custom"),
            "path": list(issue.path),
            "message": issue.message,
        }
        if issue.keyword == "type":
            entry["expected"] = issue.expected
        zod_issues.append(entry)
    return {"error": "Invalid request parameters", "details": details, "issues": zod_issues}
