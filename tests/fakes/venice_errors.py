"""Error bodies as the real Venice API sends them (docs.venice.ai "Error Codes" and the spec)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

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
