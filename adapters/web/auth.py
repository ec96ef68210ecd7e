"""The console's one admin: the password check, sessions, the lockout and CSRF tokens.

The password is kept only as a scrypt hash made at start-up, and a login attempt is compared
with it in constant time. Sessions live in this process (a random id in an HttpOnly,
SameSite=Strict cookie; ``/logout`` ends it here, whatever the browser keeps). Each session has
its own CSRF token that every form posts back. Ten wrong passwords from one client within
``WINDOW`` seconds lock that client out for ``LOCKOUT`` seconds (429), the right password
included.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "venice_console"
SESSION_SECONDS = 12 * 3600  # a login lasts a working day
IDLE_SECONDS = 2 * 3600  # and ends sooner when left alone
MAX_FAILURES = 10
WINDOW = 15 * 60.0
LOCKOUT = 15 * 60.0
MAX_SESSIONS = 100  # the oldest goes first: a leaked cookie cannot pile up sessions forever
MAX_CLIENTS = 10_000  # failure records kept; beyond that the oldest are forgotten

# scrypt at n=2^14, r=8: about 16 MiB and some tens of milliseconds per attempt.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass
class Session:
    """One logged-in browser."""

    id: str
    csrf: str
    started: float
    seen: float
    flash: str | None = None  # a line for the next page (what a form just did)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class Locked(Exception):
    """Too many wrong passwords from this client: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"locked for {retry_after:.0f} s")
        self.retry_after = retry_after


class Gate:
    """Who is logged in to the console, and who may try again."""

    def __init__(self, password: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._salt = secrets.token_bytes(16)
        self._hash = self._derive(password)
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, _Failures] = {}

    def _derive(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode(), salt=self._salt, **_SCRYPT)

    def login(self, client: str, password: str) -> Session | None:
        """A new session for the right password, None for a wrong one.

        Raises ``Locked`` while ``client`` is locked out (checked before the password).
        """
        now = self._clock()
        record = self._failures.get(client)
        if record is not None and record.locked_until > now:
            raise Locked(record.locked_until - now)
        if hmac.compare_digest(self._derive(password), self._hash):
            self._failures.pop(client, None)
            return self._open(now)
        record = record or self._remember(client)
        record.times = [t for t in record.times if t > now - WINDOW] + [now]
        if len(record.times) >= MAX_FAILURES:
            record.locked_until = now + LOCKOUT
            record.times.clear()
        return None

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must still wait (0: it may try)."""
        record = self._failures.get(client)
        return max(0.0, record.locked_until - self._clock()) if record else 0.0

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this id (and mark it used), or None."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        now = self._clock()
        if session is None:
            return None
        if now - session.started > SESSION_SECONDS or now - session.seen > IDLE_SECONDS:
            del self._sessions[session_id]
            return None
        session.seen = now
        return session

    def logout(self, session: Session) -> None:
        """End a session here: its cookie opens nothing any more."""
        self._sessions.pop(session.id, None)

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        """Whether a form's token is this session's (in constant time)."""
        return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())

    def _open(self, now: float) -> Session:
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        self._sessions[session.id] = session
        return session

    def _remember(self, client: str) -> _Failures:
        while len(self._failures) >= MAX_CLIENTS:
            del self._failures[next(iter(self._failures))]
        record = self._failures[client] = _Failures()
        return record
