"""The records every storage backend stores and hands back: plain values, no SQL."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from core.venice.types import EncodedMessage, WebSearchMode, dumps


@dataclass(frozen=True)
class ConversationKey:
    """Where a conversation lives: platform, chat, thread, the user when memory is per user,
    and the character or persona it is held with ("" for none)."""

    platform: str
    chat_id: str
    thread_id: str = ""
    user_scope: str = ""
    persona: str = ""
    ephemeral: bool = False  # kept in memory only: nothing of it is written to disk


CUT_OFF_MARK = " […answer cut off]"


@dataclass(frozen=True)
class StoredMessage:
    """One stored message."""

    id: int
    role: str
    content: str
    token_count: int
    interrupted: bool = False

    @cached_property
    def chat_message(self) -> EncodedMessage:
        """This message as sent to Venice, encoded once (the history is re-sent every turn)."""
        content = self.content + (CUT_OFF_MARK if self.interrupted else "")
        return EncodedMessage(dumps({"role": self.role, "content": content}))


@dataclass
class Conversation:
    """The active conversation of a key, with its running summary.

    ``recent`` caches the messages after ``summarized_upto`` once all of them have been read
    (``recent_complete``); turns are appended as they are saved, so assembling the next
    context window needs no database round trip.
    """

    id: int
    key: ConversationKey
    summary: str = ""
    summary_tokens: int = 0
    summarized_upto: int = 0
    unsummarized_tokens: int = 0
    recent: list[StoredMessage] = field(default_factory=list, repr=False)
    recent_complete: bool = False

    @property
    def in_memory(self) -> bool:
        """An ephemeral conversation: its messages live only in this process."""
        return self.key.ephemeral


VoiceMode = Literal["off", "on", "mirror"]


@dataclass(frozen=True)
class ChatSettings:
    """What a chat has chosen; None means "the bot's default"."""

    model: str | None = None
    web_search: WebSearchMode = "off"
    web_scraping: bool = True
    system_prompt: str | None = None
    per_user_memory: bool = False
    shared_pool: bool = False
    voice_mode: VoiceMode = "off"
    tts_model: str | None = None
    tts_voice: str | None = None
    safe_mode: bool = True
    character: str | None = None  # "venice:<slug>" or "persona:<id>": who speaks in this chat
    retention_days: int | None = None  # None: MESSAGE_RETENTION_DAYS; 0: keep forever
    ephemeral: bool = False  # no message content written to disk
    history_budget: int | None = None  # tokens of turns sent verbatim; None: HISTORY_TOKEN_BUDGET
    recall: bool = True  # long-term recall of what left the verbatim window
    tools: bool | None = None  # the model may call tools; None: TOOLS_DEFAULT
    timezone: str | None = None  # IANA name (Europe/Berlin) for current_time; None: UTC

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatSettings:
        """Load, ignoring keys that a newer or older version wrote."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


VideoJobStatus = Literal["quoted", "queued", "done", "failed", "cancelled"]
JobKind = Literal["video", "music"]


@dataclass(frozen=True)
class VideoJob:
    """One /video or /music request (``kind``), from its quote to its delivery."""

    id: str
    status: VideoJobStatus
    platform: str
    chat_id: str
    thread_id: str | None
    user_id: str
    owner: str
    model: str
    request: dict[str, Any]
    quote: int  # micro-USD, as charged
    reservation: str | None
    queue_id: str | None
    created_at: float
    queued_at: float | None
    finished_at: float | None
    kind: JobKind = "video"

    @property
    def prompt(self) -> str:
        """What the video shows (or the music sounds like)."""
        return str(self.request.get("prompt", ""))


@dataclass(frozen=True)
class KnownUser:
    """A user the bot has seen, with the account they pay from.

    Attributes:
        owner: the ledger account they spend from ("user:<id>", another user's when linked).
        owner_name: that account's user as ``platform:id`` when it is not their own (linked).
        last_message: when their newest stored message was written (None: none is stored).
    """

    id: int
    platform: str
    platform_user_id: str
    display_name: str | None
    first_seen: float
    last_message: float | None
    owner: str
    owner_name: str | None

    @property
    def name(self) -> str:
        """``platform:id``, as ADMIN_USER_IDS and ``venice-bots admin`` take it."""
        return f"{self.platform}:{self.platform_user_id}"


@dataclass(frozen=True)
class UserPage:
    """Some of the users that match a search, and how many match in all."""

    users: list[KnownUser]
    total: int


# The feature a chat answer is settled under: voice notes and documents are answered by it too
# (their transcription and reading are steps on the way, not answers), and a voice reply is a
# second action of the same turn, so only this one counts as a turn.
ANSWER_FEATURE = "chat"


@dataclass(frozen=True)
class DayFigures:
    """What one UTC day's paid actions cost and how many there were.

    Attributes:
        day: "YYYY-MM-DD" (UTC), the day the actions were settled.
        spent: micro-USD charged, net of what undelivered answers gave back (grants, allowances
            and refunded holds are not spending).
        turns: chat answers settled (``ANSWER_FEATURE``), undelivered ones left out.
        actions: paid actions settled (any feature, each once), undelivered ones left out.
    """

    day: str
    spent: int
    turns: int
    actions: int


@dataclass(frozen=True)
class LedgerTotals:
    """The whole ledger at a glance (for metrics read from the database).

    Attributes:
        charged: feature -> micro-USD charged ever, net as in ``DayFigures.spent``.
        actions: feature -> paid actions settled ever, as in ``DayFigures.actions``.
        granted: micro-USD of credit granted ever, minus what was taken away (allowances apart).
        open_holds: micro-USD held by reservations neither settled nor refunded.
        accounts: how many accounts are open.
    """

    charged: dict[str, int]
    actions: dict[str, int]
    granted: int
    open_holds: int
    accounts: int


@dataclass(frozen=True)
class ConversationCount:
    """How much a user wrote in one chat, never what.

    Attributes:
        messages: the user's messages there plus the bot's answer stored after each.
        last_at: when the newest of those was written.
    """

    platform: str
    chat_id: str
    messages: int
    last_at: float


@dataclass(frozen=True)
class Reservation:
    """Credit held for one paid action until it is settled or refunded."""

    request_id: str
    account_id: int
    amount: int
    feature: str


@dataclass(frozen=True)
class OpenReservation:
    """A hold neither settled nor refunded yet, as the ledger shows it."""

    request_id: str
    owner: str
    amount: int
    feature: str
    created_at: float


@dataclass(frozen=True)
class InboxItem:
    """A message recorded as it arrived and not answered yet."""

    platform: str
    key: str  # the platform's id of the update or message
    chat: str
    payload: str  # what the adapter needs to answer it again
    received_at: float


@dataclass(frozen=True)
class AccountView:
    """An account as read without writing: its balance with any refill that is due.

    Attributes:
        pending_refill: the allowance counted in ``balance`` but not booked yet.
    """

    balance: int
    unlimited: bool
    pending_refill: int


@dataclass(frozen=True)
class Entry:
    """One ledger entry."""

    id: int
    kind: str
    amount: int
    request_id: str | None
    feature: str | None
    actor: str | None
    note: str | None
    created_at: float


_TOKEN_NOTE = re.compile(
    r"prompt (\d+) tokens, (\d+) cached, (\d+) written to cache; caching saved (-?\d+) micro-USD"
)


@dataclass(frozen=True)
class TokenUse:
    """What a charged request's prompt was made of, kept with its settlement for /usage.

    ``cached_tokens`` were read from Venice's prompt cache and ``cache_write_tokens`` written
    to it, both part of ``prompt_tokens``. ``saved``: micro-USD that caching saved, those
    tokens at the plain input price minus what they cost (negative when cache writes cost more
    than the reads saved).
    """

    prompt_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    saved: int = 0

    def note(self) -> str:
        """The settlement's note: readable in an audit, and read back by ``from_note``."""
        return (
            f"prompt {self.prompt_tokens} tokens, {self.cached_tokens} cached, "
            f"{self.cache_write_tokens} written to cache; caching saved {self.saved} micro-USD"
        )

    @classmethod
    def from_note(cls, note: str | None) -> TokenUse | None:
        """The token use a settlement's note records; None for any other note."""
        match = _TOKEN_NOTE.fullmatch(note or "")
        return cls(*(int(group) for group in match.groups())) if match else None


@dataclass(frozen=True)
class Activity:
    """One line of an account's history for its user: a paid action with its final cost (its
    reserve and settlement or refund joined), or credit given or taken.

    ``status`` is "charged", "held" (not finished yet), "refunded" (it failed), or for credit
    the entry's kind ("allowance", "grant", "adjustment"). ``amount`` is the change to the
    balance so far (negative: spent); ``held`` is what a reservation holds or held; ``tokens``
    what a charged chat request's prompt was made of, when its settlement recorded it.
    """

    created_at: float
    status: str
    amount: int
    held: int = 0
    feature: str | None = None
    note: str | None = None
    tokens: TokenUse | None = None


@dataclass(frozen=True)
class UserRecord:
    """A stored user as /export shows them."""

    id: int
    display_name: str | None
    created_at: float


@dataclass(frozen=True)
class HeldMessage:
    """One stored message as /export hands it out (``author``: the writer's user id)."""

    conversation_id: int
    chat_id: str
    thread_id: str
    persona: str
    role: str
    content: str
    created_at: float
    author: int | None
