"""Venice's two error shapes become typed errors with a user-facing message."""

import json

import pytest

from core.errors import BotError
from core.venice import errors as e


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.BadRequest),
        (401, e.AuthenticationFailed),
        (402, e.InsufficientBalance),
        (404, e.NotFound),
        (413, e.PayloadTooLarge),
        (415, e.UnsupportedMediaType),
        (422, e.Unprocessable),
        (429, e.RateLimited),
        (500, e.ServerError),
        (503, e.ServiceUnavailable),
        (504, e.GatewayTimeout),
    ],
)
def test_each_status_has_its_own_error_class(status: int, cls: type) -> None:
    error = e.error_for_status(status, b'{"error": "boom"}', cf_ray="abc-IAD")
    assert type(error) is cls
    assert isinstance(error, BotError)
    assert error.status == status
    assert error.api_message == "boom"
    assert "abc-IAD" in error.user_message


def test_plain_string_error_shape_with_code() -> None:
    body = {"error": "Character not found", "code": "CHARACTER_NOT_FOUND"}
    error = e.error_for_status(404, json.dumps(body).encode())
    assert (error.api_message, error.code) == ("Character not found", "CHARACTER_NOT_FOUND")


def test_openai_object_error_shape_and_context_length() -> None:
    body = {
        "error": {
            "message": "too long",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    error = e.error_for_status(400, json.dumps(body).encode())
    assert isinstance(error, e.ContextLengthExceeded)
    assert error.code == "context_length_exceeded"
    assert "/reset" in error.user_message


def test_validation_issues_are_named_in_the_message() -> None:
    body = {
        "error": "Invalid request parameters",
        "issues": [{"path": ["messages"], "message": "Expected array"}],
    }
    error = e.error_for_status(400, json.dumps(body).encode())
    assert "messages Expected array" in error.api_message


def test_invalid_model_code() -> None:
    error = e.error_for_status(400, b'{"error": "bad model", "code": "INVALID_MODEL"}')
    assert isinstance(error, e.InvalidModel)


def test_non_json_body_such_as_a_proxy_page() -> None:
    error = e.error_for_status(502, b"<html>Bad gateway</html>")
    assert isinstance(error, e.ServerError)
    assert error.api_message.startswith("<html>")


def test_rate_limited_tells_when_to_retry() -> None:
    error = e.error_for_status(429, b'{"error": "Rate limit exceeded"}', retry_after=7.2)
    assert "8 s" in error.user_message


@pytest.mark.parametrize("status", [400, 413, 415, 422])
def test_the_user_is_told_what_the_status_means_never_venices_words(status: int) -> None:
    body = {
        "error": "Invalid voice: af_sky is not available (your key vk-live-9f8e7d6c5b4a39281706 was used)"
    }
    error = e.error_for_status(status, json.dumps(body).encode())
    assert error.user_message == type(error).default_user_message
    assert "af_sky" not in error.user_message and "vk-live" not in error.user_message
    assert error.api_message == "Invalid voice: af_sky is not available (your key [redacted] was used)"


@pytest.mark.parametrize(
    ("said", "logged"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        (
            '{"apiKey": "s3cr3t", "model": "llama-3.3-70b"}',
            '{"apiKey": "[redacted]", "model": "llama-3.3-70b"}',
        ),
        ("token=abc, password: pa55", "token=[redacted], password: [redacted]"),
        ("sk-proj-abcdefgh123 refused", "[redacted] refused"),
        ("VENICE_INFERENCE_KEY_abcdefgh1234", "[redacted]"),
        ("sha deadbeefdeadbeefdeadbeef", "sha [redacted]"),
        ("b64 QWxhZGRpbjpvcGVuIHNlc2FtZQ9876543210==.", "b64 [redacted]."),
        ("venice-uncensored and qwen3-235b-a22b-thinking-2507 are busy", None),
        (
            "messages.0.content: Expected string,\n received array",
            "messages.0.content: Expected string, received array",
        ),
    ],
)
def test_key_like_strings_are_redacted_and_model_names_kept(said: str, logged: str | None) -> None:
    assert e.redacted(said) == (said if logged is None else logged)


def test_a_long_message_is_cut_to_300_characters_and_never_inside_a_key() -> None:
    key = "Zk3pQ9xW2mR7tL0vB4nC8yH1Zk3pQ9xW2mR7tL0vB4nC8yH1"
    assert len(e.redacted("word " * 1000)) == 300
    cut = e.redacted("x " * 599 + key * 3)
    assert "Zk3p" not in cut and len(cut) <= 300
