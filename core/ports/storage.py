"""What the core needs from storage: one Protocol per store, and ``Store`` that groups them.

Every backend (adapters/storage/sqlite, adapters/storage/postgres) implements these; the core
is typed against them and never sees SQL. A store keeps its own caches and keeps them true:
SQLite's one process is the only writer, PostgreSQL's workers see each other's writes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, Self

from core.characters.cards import Persona
from core.errors import StorageUnavailable
from core.events import Charge
from core.money import AllowancePolicy
from core.ports.coordination import Coordination
from core.ports.inbox import Inbox
from core.ports.leadership import Leadership
from core.ports.privacy import PrivacyStore
from core.ports.records import (
    AccountView,
    Activity,
    ChatSettings,
    Conversation,
    ConversationCount,
    ConversationKey,
    DayFigures,
    Entry,
    KnownUser,
    LedgerTotals,
    OpenReservation,
    Reservation,
    StoredMessage,
    TokenUse,
    UserPage,
    VideoJob,
    VideoJobStatus,
)
from core.ports.vectors import VectorStore


class ConversationStore(Protocol):
    """Conversations and their messages."""

    async def user_id(self, platform: str, platform_user_id: str, display_name: str | None) -> int:
        """Return the internal id of a platform user, creating the user on first sight."""
        ...

    async def active(self, key: ConversationKey) -> Conversation:
        """Return the key's active conversation, starting one if there is none."""
        ...

    async def reset(self, key: ConversationKey) -> bool:
        """Retire the key's active conversation; return whether there was one with messages."""
        ...

    async def newest(
        self, conversation: Conversation, budget: int, *, before_id: int | None = None
    ) -> list[StoredMessage]:
        """Return the newest unsummarized messages whose tokens fit ``budget``, oldest first."""
        ...

    async def last_turn(self, conversation: Conversation) -> tuple[StoredMessage, StoredMessage] | None:
        """The newest question and its answer, if the conversation ends with a whole turn."""
        ...

    async def oldest_unsummarized(self, conversation: Conversation, tokens: int) -> list[StoredMessage]:
        """Return the oldest unsummarized messages, up to about ``tokens`` tokens."""
        ...

    async def save_turn(
        self,
        conversation: Conversation,
        *,
        user_id: int | None,
        question: str,
        question_tokens: int,
        answer: str,
        answer_tokens: int,
        interrupted: bool = False,
        replacing: tuple[StoredMessage, StoredMessage] | None = None,
    ) -> None:
        """Store a question and its answer together: both or neither."""
        ...

    async def replace_opening(self, conversation: Conversation, greeting: str, tokens: int) -> bool:
        """Swap the greeting of a conversation that holds nothing else; False otherwise."""
        ...

    async def save_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> bool:
        """Open an empty conversation with the character's greeting; False when it has messages."""
        ...

    async def save_summary(
        self,
        conversation: Conversation,
        *,
        summary: str,
        summary_tokens: int,
        upto_id: int,
        folded_tokens: int,
    ) -> None:
        """Record a new running summary covering messages up to ``upto_id``."""
        ...

    def drop_cached(
        self,
        conversation_ids: set[int],
        *,
        platform: str | None = None,
        user: str | None = None,
        chats: set[str] = ...,
    ) -> None:
        """Forget cached conversations (their rows changed under the cache)."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many users, conversations and messages are stored."""
        ...

    async def count_messages(self, conversation: Conversation) -> int:
        """How many messages the conversation has stored."""
        ...

    async def counts_of_user(self, user_id: int) -> list[ConversationCount]:
        """How many messages a user and the answers to them hold per chat, most recent first."""
        ...


class ChatSettingsStore(Protocol):
    """Per-chat settings."""

    async def get(self, platform: str, chat_id: str) -> ChatSettings:
        """Return a chat's settings (the defaults when it has none)."""
        ...

    def drop_cached(self, platform: str, chat_id: str) -> None:
        """Forget a chat's cached settings (its row was deleted)."""
        ...

    async def update(self, platform: str, chat_id: str, **changes: Any) -> ChatSettings:
        """Change some settings of a chat and return the result."""
        ...

    async def models_in_use(self) -> dict[str, int]:
        """How many chats pin each model (chats on the default are not counted)."""
        ...


class PersonaStore(Protocol):
    """Custom personas and imported cards; names are unique whatever their case."""

    async def create(self, persona: Persona, *, actor: str) -> Persona:
        """Store a new persona; refuses a name that is taken (``InvalidInput``)."""
        ...

    async def update(self, persona: Persona) -> None:
        """Save a changed persona."""
        ...

    async def delete(self, persona_id: int) -> None:
        """Remove a persona."""
        ...

    async def by_name(self, name: str) -> Persona | None:
        """The persona of that name, any case."""
        ...

    async def get(self, persona_id: int) -> Persona | None:
        """The persona with that id."""
        ...

    async def all(self) -> list[Persona]:
        """Every persona, by name."""
        ...


class StateStore(Protocol):
    """Small key-value facts kept between runs."""

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, if any."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        ...

    async def setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one
        (atomically: of several callers at once, all get the first value written)."""
        ...


class UserDirectory(Protocol):
    """Read-only look-ups of the users and chats the bot has seen."""

    async def find(self, platform: str, platform_user_id: str) -> int | None:
        """The internal id of a user the bot has seen, or None."""
        ...

    async def get(self, platform: str, platform_user_id: str) -> KnownUser | None:
        """A seen user with their account, or None."""
        ...

    async def search(self, text: str | None = None, *, limit: int = 50, offset: int = 0) -> UserPage:
        """Users whose ``platform:id`` or name contains ``text``, most recently active first."""
        ...

    async def sharing(self, owner: str) -> list[str]:
        """``platform:id`` of every user who pays from ``owner``."""
        ...

    async def chat_seen(self, platform: str, chat_id: str) -> bool:
        """Whether the bot knows a chat: it has a conversation, settings or a shared balance."""
        ...


class VideoJobStore(Protocol):
    """Video jobs, so a job queued at Venice is finished after a restart."""

    async def create(self, job: VideoJob) -> None:
        """Store a new (quoted) job."""
        ...

    async def get(self, job_id: str) -> VideoJob | None:
        """One job by id."""
        ...

    async def move(
        self, job_id: str, from_status: VideoJobStatus, to_status: VideoJobStatus, **fields: Any
    ) -> bool:
        """Change a job's state if it is still in ``from_status`` (False: someone else did)."""
        ...

    async def queued(self) -> list[VideoJob]:
        """Jobs running at Venice (to resume after a restart)."""
        ...


class LedgerStore(Protocol):
    """Accounts, allowances and paid actions, in integer micro-USD.

    Invariants every backend keeps: an account's balance is the sum of its entries; a limited
    account never goes below zero on a reserve (``InsufficientCredit``); a reservation is
    settled or refunded at most once.
    """

    @property
    def policy(self) -> AllowancePolicy:
        """The allowance every account gets by default."""
        ...

    async def account(self, owner: str, *, unlimited: bool = False) -> int:
        """The account id of an owner, opened on first use."""
        ...

    async def owner_of_user(self, user_id: int) -> str:
        """The account a user pays from: their own, or the one they linked to."""
        ...

    async def link(self, user_id: int, owner: str, *, actor: str) -> int:
        """Make ``user_id`` pay from ``owner`` from now on; returns the credit moved there."""
        ...

    def forget_link(self, user_id: int) -> None:
        """Drop a cached link (its row was deleted)."""
        ...

    async def set_unlimited(self, owner: str, unlimited: bool) -> None:
        """Make an account unlimited (admins) or limited again."""
        ...

    async def balance(self, owner: str) -> int:
        """The owner's balance, after any allowance refill that is due."""
        ...

    async def peek(self, owner: str) -> AccountView:
        """The owner's account as ``balance`` would show it, writing nothing."""
        ...

    async def reserve(
        self, owner: str, amount: int, *, feature: str, request_id: str | None = None
    ) -> Reservation:
        """Hold ``amount`` for a paid action, or raise ``InsufficientCredit``."""
        ...

    async def settle(self, reservation: Reservation, cost: int, *, tokens: TokenUse | None = None) -> int:
        """Charge the real cost (capped by the balance beyond the hold); returns what was charged.

        ``tokens``: what the request's prompt was made of; ``activity`` hands it back.
        """
        ...

    async def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the action failed)."""
        ...

    async def refund_undelivered(self, charge: Charge) -> bool:
        """Give back a settled charge whose answer was never delivered; once per request
        (False when it was given back already)."""
        ...

    async def flush(self) -> None:
        """Write every queued entry now (before the store closes)."""
        ...

    async def grant(self, owner: str, amount: int, *, actor: str, note: str | None = None) -> int:
        """Add credit (or take it away, with a negative amount); returns the new balance."""
        ...

    async def entries(self, owner: str, limit: int = 20) -> list[Entry]:
        """The newest entries of an account, newest first."""
        ...

    async def activity(self, owner: str, limit: int = 15) -> list[Activity]:
        """The newest actions and credits of an account, newest first."""
        ...

    async def spending(self, owner: str, since: float) -> dict[str, int]:
        """What each feature cost the owner since a moment (open reservations included)."""
        ...

    async def is_unlimited(self, owner: str) -> bool:
        """Whether the owner spends without a balance."""
        ...

    async def check(self) -> list[str]:
        """Every account whose balance is not the sum of its entries (empty: all good)."""
        ...

    async def open_reservations(self) -> list[OpenReservation]:
        """Every hold neither settled nor refunded, oldest first."""
        ...

    async def count_accounts(self) -> int:
        """How many accounts are open."""
        ...

    async def daily(self, since: float) -> list[DayFigures]:
        """Spending, turns and actions per UTC day with any, from the day of ``since``, oldest first."""
        ...

    async def totals(self) -> LedgerTotals:
        """What was charged, settled, granted and held ever, and how many accounts there are."""
        ...

    async def set_allowance(self, owner: str, amount: int | None) -> None:
        """Give an account its own allowance per period (None: the default again)."""
        ...

    async def allowance_of(self, owner: str) -> int:
        """The allowance per period this account gets."""
        ...


class Store(Protocol):
    """Every store of one backend, opened (and migrated) with ``async with``, closed on exit."""

    @property
    def conversations(self) -> ConversationStore: ...
    @property
    def chat_settings(self) -> ChatSettingsStore: ...
    @property
    def personas(self) -> PersonaStore: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def leadership(self) -> Leadership: ...
    @property
    def users(self) -> UserDirectory: ...
    @property
    def video_jobs(self) -> VideoJobStore: ...
    @property
    def ledger(self) -> LedgerStore: ...
    @property
    def privacy(self) -> PrivacyStore: ...
    @property
    def vectors(self) -> VectorStore: ...
    @property
    def coordination(self) -> Coordination: ...

    def atomic(self) -> AbstractAsyncContextManager[None]:
        """Run what this task asks of the stores inside in one transaction: all of it or none."""
        ...

    def watch_unavailable(self, report: Callable[[StorageUnavailable], None]) -> None:
        """Call ``report`` each time the backend cannot save (it raises ``StorageUnavailable``)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
