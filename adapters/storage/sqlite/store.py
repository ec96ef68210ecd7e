"""The SQLite ``Store``: opens the database, brings its schema up to date, builds every store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Self

from adapters.storage.sqlite.chat_settings import ChatSettingsStore
from adapters.storage.sqlite.conversations import ConversationStore
from adapters.storage.sqlite.coordination import SoleWorker
from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.inbox import Inbox
from adapters.storage.sqlite.leadership import SoleLeadership
from adapters.storage.sqlite.ledger import Ledger
from adapters.storage.sqlite.migrations import migrate
from adapters.storage.sqlite.personas import PersonaStore
from adapters.storage.sqlite.privacy import PrivacyStore
from adapters.storage.sqlite.state import StateStore
from adapters.storage.sqlite.users import UserDirectory
from adapters.storage.sqlite.vectors import SqliteVectorStore
from adapters.storage.sqlite.video_jobs import VideoJobStore
from core.errors import StorageUnavailable
from core.money import AllowancePolicy


class SqliteStore:
    """Every store on one SQLite database, usable between ``async with`` and its end.

    ``clock`` is the wall time that conversations and chat settings stamp their rows with;
    ``ledger_clock`` the ledger's (entries, allowance periods).
    """

    conversations: ConversationStore
    chat_settings: ChatSettingsStore
    personas: PersonaStore
    state: StateStore
    inbox: Inbox
    leadership = SoleLeadership()  # one process serves the database
    users: UserDirectory
    video_jobs: VideoJobStore
    ledger: Ledger
    privacy: PrivacyStore
    vectors: SqliteVectorStore
    coordination: SoleWorker
    database: Database

    def __init__(
        self,
        path: str,
        *,
        policy: AllowancePolicy,
        clock: Callable[[], float] = time.time,
        ledger_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._policy = policy
        self._clock = clock
        self._ledger_clock = ledger_clock
        self._stack = AsyncExitStack()
        self._watchers: list[Callable[[StorageUnavailable], None]] = []

    def watch_unavailable(self, report: Callable[[StorageUnavailable], None]) -> None:
        """Call ``report`` each time the database cannot save (also before it is opened)."""
        self._watchers.append(report)
        if hasattr(self, "database"):
            self.database.watch_unavailable(report)

    async def __aenter__(self) -> Self:
        """Open and migrate the database, then build the stores on it."""
        db = await self._stack.enter_async_context(Database.open(self.path))
        try:
            await migrate(db)
        except BaseException:
            await self._stack.aclose()
            raise
        self.database = db
        for report in self._watchers:
            db.watch_unavailable(report)
        self.vectors = SqliteVectorStore(db, clock=self._clock)
        # An ephemeral conversation's chunks go with it (its reset, a /forget of its user) and
        # with its regenerated turns.
        self.conversations = ConversationStore(db, clock=self._clock, discarded=self.vectors.discard)
        self.chat_settings = ChatSettingsStore(db, clock=self._clock)
        self.personas = PersonaStore(db)
        self.state = StateStore(db)
        self.inbox = Inbox(db, clock=self._clock)
        self.users = UserDirectory(db)
        self.video_jobs = VideoJobStore(db)
        self.ledger = Ledger(db, policy=self._policy, clock=self._ledger_clock)
        self.privacy = PrivacyStore(db)
        self.coordination = SoleWorker()
        return self

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Run what this task asks of the stores inside in one transaction: all of it or none."""
        async with self.database.transaction():
            yield

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Write what the ledger still queues, then close the database."""
        try:
            if hasattr(self, "ledger"):
                await self.ledger.flush()
        finally:
            await self._stack.aclose()
