"""Why a server could not be reached, read from the exception chain the HTTP libraries raise."""

from __future__ import annotations

import errno
import socket
import ssl

import httpx
import pytest

from core.network import diagnose


def raised(outer: BaseException, cause: BaseException) -> BaseException:
    """``outer`` raised ``from cause``, as httpx, httpcore, PTB and aiohttp chain theirs."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as exc:  # noqa: BLE001 - the chained exception is what is wanted
        return exc


def verify_failed() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (
            raised(
                httpx.ConnectError("[Errno -2] Name or service not known"),
                socket.gaierror(-2, "Name or service not known"),
            ),
            "dns",
            "the host name could not be resolved",
        ),
        (
            raised(httpx.ConnectError("x"), verify_failed()),
            "tls",
            "TLS certificate rejected (self-signed certificate)",
        ),
        (
            raised(
                httpx.ConnectError("all failed"),
                ExceptionGroup("all", [ConnectionRefusedError(111, "refused")]),
            ),
            "refused",
            "connection refused",
        ),
        (
            raised(httpx.ReadError("x"), ConnectionResetError(104, "reset")),
            "reset",
            "the server closed the connection",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            "reset",
            "the server closed the connection without an answer",
        ),
        (
            raised(OSError("connect failed"), OSError(errno.ENETUNREACH, "unreachable")),
            "unreachable",
            "the network or host is unreachable",
        ),
        (raised(RuntimeError("aiohttp timeout"), TimeoutError()), "timeout", "timed out"),
        (httpx.ConnectTimeout("x"), "timeout", "timed out while connecting"),
        (ValueError("odd"), "other", "ValueError: odd"),
    ],
)
def test_a_failure_is_classified_by_its_causes(exc: BaseException, kind: str, detail: str) -> None:
    failure = diagnose(exc)
    assert (failure.kind, failure.detail) == (kind, detail)
