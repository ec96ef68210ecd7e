"""The PostgreSQL ``Store``: opens a connection pool, brings the schema up to date, builds every store.

Several workers (processes) open one each on the same database; what one writes, the others
read (the stores cache only what stays true across workers: see each store).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Self

from adapters.storage.postgres.chat_settings import ChatSettingsStore
from adapters.storage.postgres.conversations import ConversationStore
from adapters.storage.postgres.coordination import DatabaseCoordination
from adapters.storage.postgres.database import Database
from adapters.storage.postgres.inbox import Inbox
from adapters.storage.postgres.leadership import AdvisoryLeadership
from adapters.storage.postgres.ledger import Ledger
from adapters.storage.postgres.migrations import migrate
from adapters.storage.postgres.personas import PersonaStore
from adapters.storage.postgres.privacy import PrivacyStore
from adapters.storage.postgres.state import StateStore
from adapters.storage.postgres.users import UserDirectory
from adapters.storage.postgres.vectors import PostgresVectorStore
from adapters.storage.postgres.video_jobs import VideoJobStore
from core.errors import StorageUnavailable
from core.money import AllowancePolicy


class PostgresStore:
    """Every store on one PostgreSQL database, usable between ``async with`` and its end.

    ``clock`` is the wall time that conversations, chat settings and the inbox stamp their
    rows with; ``ledger_clock`` the ledger's (entries, allowance periods).
    """

    conversations: ConversationStore
    chat_settings: ChatSettingsStore
    personas: PersonaStore
    state: StateStore
    inbox: Inbox
    leadership: AdvisoryLeadership
    users: UserDirectory
    video_jobs: VideoJobStore
    ledger: Ledger
    privacy: PrivacyStore
    vectors: PostgresVectorStore
    coordination: DatabaseCoordination
    database: Database

    def __init__(
        self,
        url: str,
        *,
        policy: AllowancePolicy,
        clock: Callable[[], float] = time.time,
        ledger_clock: Callable[[], float] = time.time,
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self._policy = policy
        self._clock = clock
        self._ledger_clock = ledger_clock
        self._pool_size = pool_size
        self._stack = AsyncExitStack()
        self._watchers: list[Callable[[StorageUnavailable], None]] = []

    def watch_unavailable(self, report: Callable[[StorageUnavailable], None]) -> None:
        """Call ``report`` each time the database cannot save (also before it is opened)."""
        self._watchers.append(report)
        if hasattr(self, "database"):
            self.database.watch_unavailable(report)

    async def __aenter__(self) -> Self:
        """Open the pool and migrate the database (under the workers' advisory lock), then
        build the stores on it."""
        db = await self._stack.enter_async_context(Database.open(self.url, pool_size=self._pool_size))
        try:
            await migrate(db)
        except BaseException:
            await self._stack.aclose()
            raise
        self.database = db
        for report in self._watchers:
            db.watch_unavailable(report)
        self.vectors = PostgresVectorStore(db, clock=self._clock)
        # An ephemeral conversation's chunks go with it (its reset, a /forget of its user) and
        # with its regenerated turns.
        self.conversations = ConversationStore(db, clock=self._clock, discarded=self.vectors.discard)
        self.chat_settings = ChatSettingsStore(db, clock=self._clock)
        self.personas = PersonaStore(db, clock=self._clock)
        self.state = StateStore(db)
        self.inbox = Inbox(db, clock=self._clock, url=self.url)
        self._stack.push_async_callback(self.inbox.aclose)
        self.leadership = AdvisoryLeadership(self.url)
        self._stack.push_async_callback(self.leadership.aclose)
        self.users = UserDirectory(db)
        self.video_jobs = VideoJobStore(db)
        self.ledger = Ledger(db, policy=self._policy, clock=self._ledger_clock)
        self.privacy = PrivacyStore(db)
        self.coordination = DatabaseCoordination(db)
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
        """Stop beating, then close the pool (every ledger entry is committed when its call
        returns: nothing queued)."""
        try:
            if hasattr(self, "coordination"):
                await self.coordination.stop()
        finally:
            await self._stack.aclose()
