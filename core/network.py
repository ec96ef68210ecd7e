"""Why a server could not be reached, read from an exception's chain (not from its text)."""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import httpx

FailureKind = Literal["refused", "dns", "tls", "timeout", "reset", "unreachable", "other"]

_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})


@dataclass(frozen=True)
class ConnectionFailure:
    """What went wrong on the way to a server: a kind to act on and a phrase to show."""

    kind: FailureKind
    detail: str  # "connection refused", "TLS handshake failed (certificate verify failed)", ...


def diagnose(exc: BaseException) -> ConnectionFailure:
    """Classify a transport failure (httpx, aiohttp, asyncio or plain sockets) by its causes."""
    chain = list(_causes(exc))
    for error in chain:
        if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return ConnectionFailure("timeout", "timed out while connecting")
        if isinstance(error, (httpx.ReadTimeout, httpx.WriteTimeout)):
            return ConnectionFailure("timeout", "connected, but no answer came in time")
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or error.reason or "certificate verify failed"
            return ConnectionFailure("tls", f"TLS certificate rejected ({reason})")
        if isinstance(error, ssl.SSLError):
            return ConnectionFailure("tls", f"TLS handshake failed ({error.reason or error})")
        if isinstance(error, socket.gaierror):
            return ConnectionFailure("dns", "the host name could not be resolved")
        if isinstance(error, ConnectionRefusedError):
            return ConnectionFailure("refused", "connection refused")
        if isinstance(error, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return ConnectionFailure("reset", "the server closed the connection")
        if isinstance(error, httpx.RemoteProtocolError):
            return ConnectionFailure("reset", "the server closed the connection without an answer")
        if isinstance(error, OSError) and error.errno in _UNREACHABLE:
            return ConnectionFailure("unreachable", "the network or host is unreachable")
        if isinstance(error, TimeoutError):
            return ConnectionFailure("timeout", "timed out")
    return ConnectionFailure("other", f"{type(exc).__name__}: {exc}".rstrip(": "))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and the members of exception groups, outermost first."""
    pending = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        for linked in (error.__cause__, error.__context__):
            if linked is not None:
                pending.append(linked)
