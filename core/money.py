"""Money: integer micro-USD, amounts typed and printed for people, the allowance policy,
and how an account's entries and activity read."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from core.errors import BotError, InvalidInput
from core.ports.records import Activity, Entry
from core.text import utc_minute

MICRO = 1_000_000


def exact(value: float | int | str | Decimal) -> Decimal:
    """A number as the decimal it reads as: 0.1 is one tenth, not the binary float nearest it."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def micro_usd(amount: float | int | Decimal, *, up: bool = True) -> int:
    """USD in micro-USD with exact decimal arithmetic: rounded up (a price), or to the nearest (an amount)."""
    micro = exact(amount) * MICRO
    return int(micro.quantize(Decimal(1), rounding=ROUND_CEILING if up else ROUND_HALF_UP))


Period = Literal["daily", "weekly", "monthly", "none"]


def usd(micro: int) -> str:
    """A micro-USD amount for people: $0.0042, $1.50, -$2.00."""
    sign, value = ("-" if micro < 0 else ""), abs(micro) / MICRO
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if not value:
        return "$0"
    text = f"{value:.4f}".rstrip("0")
    if len(text.partition(".")[2]) < 2:  # cents keep two digits: $0.50, not $0.5
        text = f"{value:.2f}"
    return f"{sign}${text}"


def parse_usd(text: str) -> int:
    """A USD amount typed by a person ("5", "0.50", "$2", "-1") in micro-USD."""
    cleaned = text.strip().replace("$", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInput(f"{text!r} is not an amount in USD (e.g. 5 or 0.50).")
    if not -10_000 <= value <= 10_000:
        raise InvalidInput("Amounts are limited to ±10,000 USD at a time.")
    return micro_usd(value, up=False)


@dataclass(frozen=True)
class AllowancePolicy:
    """How much credit each account gets, how often, and whether unused credit carries over.

    Without roll-over a refill tops the balance up to ``amount`` (credit granted beyond it is
    kept); with roll-over each refill adds ``amount``. Periods start at 00:00 UTC (Venice's own
    DIEM epoch), on Mondays for weekly, on the 1st for monthly.
    """

    amount: int = 0
    period: Period = "daily"
    roll_over: bool = False

    def period_start(self, now: float) -> float | None:
        """Start of the period that contains ``now`` (None: no allowance)."""
        if self.period == "none":
            return None
        day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "weekly":
            day -= timedelta(days=day.weekday())
        elif self.period == "monthly":
            day = day.replace(day=1)
        return day.timestamp()

    def next_refill(self, now: float) -> float | None:
        """When the next period starts (None: never)."""
        start = self.period_start(now)
        if start is None:
            return None
        begun = datetime.fromtimestamp(start, UTC)
        if self.period == "daily":
            return (begun + timedelta(days=1)).timestamp()
        if self.period == "weekly":
            return (begun + timedelta(days=7)).timestamp()
        days = calendar.monthrange(begun.year, begun.month)[1]
        return (begun + timedelta(days=days)).timestamp()


class InsufficientCredit(BotError):
    """The account cannot cover a reservation."""

    def __init__(self, needed: int, available: int, next_refill: float | None) -> None:
        when = (
            f" Your allowance refills at {datetime.fromtimestamp(next_refill, UTC):%Y-%m-%d %H:%M} UTC."
            if next_refill
            else ""
        )
        super().__init__(f"This needs about {usd(needed)}; you have {usd(max(0, available))}.{when}")
        self.needed = needed
        self.available = available
        self.next_refill = next_refill


def format_entries(entries: list[Entry]) -> str:
    """Raw entries for auditing (admins), newest first; users see ``format_activity``."""
    if not entries:
        return "No entries yet."
    lines = ["Latest entries (newest first, times in UTC):"]
    for entry in entries:
        what = entry.feature or entry.note or entry.kind
        lines.append(f"{utc_minute(entry.created_at)} {entry.kind:<10} {usd(entry.amount):>10} {what}")
    return "\n".join(lines)


FEATURE_NAMES = {
    "chat": "answer",
    "summary": "conversation summary",
    "image": "image",
    "upscale": "upscale",
    "edit": "image edit",
    "speech": "voice reply",
    "transcription": "voice note transcribed",
    "document": "document read",
    "video": "video",
    "search": "web search",
    "scrape": "web page read",
    "music": "music",
}


def format_activity(items: list[Activity]) -> str:
    """A user's history, one line per action, newest first, for /usage; with what prompt
    caching saved on the requests shown."""
    if not items:
        return "Nothing yet: your paid actions and the credit you get will show here."
    lines = ["Your latest activity (newest first):"]
    for item in items:
        lines.append(f"{utc_minute(item.created_at)} UTC  {_describe(item)}{_tokens(item)}")
    used = [item.tokens for item in items if item.tokens and item.status == "charged"]
    saved = sum(tokens.saved for tokens in used)
    if saved > 0:
        lines.append(f"Prompt caching saved you {usd(saved)} on the requests above.")
    elif saved < 0:  # writes to the cache cost more than reading it saved (so far)
        lines.append(f"Prompt caching cost you {usd(-saved)} more than it saved on the requests above.")
    return "\n".join(lines)


def _tokens(item: Activity) -> str:
    """A charged request's prompt size and how much of it came from the prompt cache."""
    tokens = item.tokens
    if tokens is None or item.status != "charged" or not tokens.prompt_tokens:
        return ""
    cached = f", {tokens.cached_tokens:,} cached" if tokens.cached_tokens else ""
    return f" ({tokens.prompt_tokens:,} prompt tokens{cached})"


def _describe(item: Activity) -> str:
    name = FEATURE_NAMES.get(item.feature or "", item.feature or "")
    if item.status == "held":
        return f"{name}: {usd(item.amount)} held until it is done"
    if item.status == "refunded":
        back = f"{usd(item.held)} refunded" if item.held else "nothing charged"
        return f"{name}: failed, {back}"
    if item.status == "charged":
        return f"{name}: {usd(item.amount)}"
    sign = "+" if item.amount > 0 else ""
    if item.note and item.note.endswith("(linked)"):
        where = "to" if item.amount < 0 else "from"
        return f"credit moved {where} your linked account: {sign}{usd(item.amount)}"
    label = {
        "allowance": item.note or "allowance",
        "grant": "credit added",
        "adjustment": "credit taken away",
    }.get(item.status, item.status)
    return f"{label}: {sign}{usd(item.amount)}"
