"""What doctor's checks share: the report, short waits, and how an unreachable server is put."""

from __future__ import annotations

from http import HTTPStatus
from typing import TextIO

import httpx

from bots.bootstrap import USER_AGENT
from core.network import ConnectionFailure
from core.settings import Settings

# Doctor waits less than the bot: a check that hangs is itself the answer.
CONNECT_SECONDS = 10.0
READ_SECONDS = 20.0


class Report:
    """Doctor's lines, and whether every check passed (warnings do not fail it)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.ok = True

    def line(self, status: str, what: str) -> None:
        """Print one check's result; a FAIL makes the exit code 1."""
        if status == "FAIL":
            self.ok = False
        self._out.write(f"[{status:^4}] {what}\n")


def doctor_http(settings: Settings) -> httpx.AsyncClient:
    """An HTTP client with short waits, for checks."""
    read = min(settings.venice_timeout_seconds, READ_SECONDS)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read, connect=min(read, CONNECT_SECONDS)),
        headers={"User-Agent": USER_AGENT},
    )


def reach_fix(failure: ConnectionFailure, setting: str) -> str:
    """What to do about a server that could not be reached at the URL in ``setting``."""
    return {
        "dns": f"Check {setting} for a typo, and this machine's DNS.",
        "tls": f"Check {setting} (http or https?), and that this machine trusts the server's "
        "certificate (CA certificates; a proxy that intercepts HTTPS).",
        "timeout": f"Check {setting}, and that no firewall or proxy holds this machine back.",
        "reset": f"Check {setting}: the right host, port and scheme (http or https)?",
        "unreachable": f"Check this machine's network, and {setting}.",
    }.get(failure.kind, f"Check {setting} and that the host is reachable.")


def status_text(status: int) -> str:
    """``404 Not Found``: the code and its standard phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
