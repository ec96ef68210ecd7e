"""The console's pages: the overview, the users, one user's account, and the grant form.

Pages show amounts, counts, ids and names, never what anyone wrote: a user's conversations are
listed by how many messages they hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from aiohttp import web

from adapters.web.chart import DayPoint, spend_chart
from adapters.web.rendering import PARTS, SESSION, ConsoleParts, render
from core.billing.accounts import AccountFinder, NamedAccount, parse_account_name
from core.catalogue import Catalogue
from core.errors import BotError, InvalidInput
from core.money import FEATURE_NAMES, parse_usd, usd
from core.ports.records import Activity, KnownUser
from core.text import utc_minute
from core.venice.errors import VeniceError

log = logging.getLogger(__name__)

PAGE_SIZE = 50
CHART_DAYS = 30
BALANCE_SECONDS = 60.0  # Venice's account balance, asked at most once a minute
HINT = "the Users page lists every user the bot has seen"


@dataclass
class _VeniceAccount:
    """Venice's balance as last asked (or why it could not be read), and when."""

    text: str = ""
    asked_at: float = float("-inf")


_ACCOUNT: web.AppKey[_VeniceAccount] = web.AppKey("venice_account")


def add_page_routes(app: web.Application) -> None:
    """Mount the pages behind the login."""
    app.router.add_get("/", overview)
    app.router.add_get("/users", users)
    app.router.add_get("/users/{name}", user)
    app.router.add_post("/users/{name}/grant", grant)
    app[_ACCOUNT] = _VeniceAccount()


# ----- overview


async def overview(request: web.Request) -> web.StreamResponse:
    """Spend and turns per day, today's figures, Venice's account and limits, the models in use."""
    parts = request.app[PARTS]
    ledger = parts.store.ledger
    today = datetime.now(UTC).date()
    first = today - timedelta(days=CHART_DAYS - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    figures, pinned, account = await asyncio.gather(
        ledger.daily(since), parts.store.chat_settings.models_in_use(), _venice_account(request, parts)
    )
    by_day = {f.day: f for f in figures}
    points = []
    for offset in range(CHART_DAYS):
        day = (first + timedelta(days=offset)).isoformat()
        found = by_day.get(day)
        points.append(DayPoint(day, found.spent if found else 0, found.turns if found else 0))
    now = points[-1]
    limits = parts.venice.rate_limits
    bot = parts.bot
    return render(
        request,
        "overview.html",
        title="Overview",
        chart=spend_chart(points),
        today=now,
        today_spent=usd(now.spent),
        today_actions=by_day[now.day].actions if now.day in by_day else 0,
        month_spent=usd(sum(p.spent for p in points)),
        month_turns=sum(p.turns for p in points),
        venice_account=account,
        limits=limits,
        limits_seen=_when(limits.observed_at) if limits.observed_at else None,
        models=await _models(parts, pinned),
        active=bot.runner.active if bot is not None else None,
        waiting=bot.runner.turns.waiting if bot is not None else None,
        unanswered=await parts.store.inbox.unanswered(),
    )


async def _venice_account(request: web.Request, parts: ConsoleParts) -> str:
    seen = request.app[_ACCOUNT]
    if time.monotonic() - seen.asked_at < BALANCE_SECONDS:
        return seen.text
    try:
        balance = await parts.venice.balance()
    except VeniceError as exc:
        text = f"unknown ({exc.user_message})"
    else:
        shown = [f"${balance.usd:,.2f}" if balance.usd is not None else None]
        shown.append(f"{balance.diem:,.2f} DIEM" if balance.diem is not None else None)
        text = " + ".join(s for s in shown if s) or "unknown"
        if not balance.can_consume:
            text += " (cannot pay for more requests: top it up)"
    seen.text, seen.asked_at = text, time.monotonic()
    return text


async def _models(parts: ConsoleParts, pinned: dict[str, int]) -> list[tuple[str, str]]:
    """Each model the bot uses, with what for: the defaults (the summary and embedding models as
    the bot picks them now), then those chats chose."""
    settings = parts.settings
    summary = settings.summary_model or "the cheapest private text model"
    embedding = settings.embedding_model or "the cheapest embedding model"
    catalogue = Catalogue(settings, parts.venice)
    try:  # Venice's model list, cached by the client: what the bot would pick right now
        chat = await parts.venice.model(settings.default_chat_model)
        if chat is not None:
            summary = (await catalogue.summary_model(chat)).id
        embedding = (await catalogue.embedding_model()).id
    except BotError as exc:  # Venice down, or a setting it does not offer: say so, keep the page
        log.info("The overview cannot resolve the memory models: %s", exc.user_message)
    rows = [
        (settings.default_chat_model, "chat (default)"),
        (summary, "summaries"),
        (embedding, "long-term recall"),
        (settings.default_image_model or "Venice's default", "images"),
        (settings.default_tts_model, "voice replies"),
        (settings.transcription_model, "voice notes"),
    ]
    for model, chats in sorted(pinned.items(), key=lambda item: (-item[1], item[0])):
        rows.append((model, f"chosen in {chats} chat{'s' if chats != 1 else ''}"))
    return rows


# ----- users


@dataclass(frozen=True)
class _UserRow:
    name: str
    display_name: str
    balance: str
    allowance: str
    last_seen: str
    link: str


async def users(request: web.Request) -> web.StreamResponse:
    """Every known user, most recently active first, searchable, fifty to a page."""
    parts = request.app[PARTS]
    search = request.query.get("q", "").strip()[:100]
    page = _page_number(request.query.get("page"))
    found = await parts.store.users.search(search or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = await asyncio.gather(*(_row(parts, known) for known in found.users))
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(
        request,
        "users.html",
        title="Users",
        rows=rows,
        search=search,
        total=found.total,
        page=page,
        pages=pages,
        previous=_users_link(search, page - 1) if page > 1 else None,
        next=_users_link(search, page + 1) if page < pages else None,
    )


async def _row(parts: ConsoleParts, known: KnownUser) -> _UserRow:
    ledger = parts.store.ledger
    view, allowance = await asyncio.gather(ledger.peek(known.owner), ledger.allowance_of(known.owner))
    balance = "unlimited" if view.unlimited else usd(view.balance)
    if known.owner_name:
        balance += f" (via {known.owner_name})"
    return _UserRow(
        name=known.name,
        display_name=known.display_name or "",
        balance=balance,
        allowance=_allowance(ledger.policy.period, allowance),
        last_seen=_when(known.last_message or known.first_seen),
        link=_user_link(known.name),
    )


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 1_000_000))
    except ValueError:
        return 1


def _users_link(search: str, page: int) -> str:
    query = {"q": search} if search else {}
    if page > 1:
        query["page"] = str(page)
    return "/users" + (f"?{urlencode(query)}" if query else "")


def _user_link(name: str) -> str:
    return "/users/" + quote(name, safe=":")


# ----- one user


@dataclass(frozen=True)
class _LedgerRow:
    when: str
    what: str
    status: str
    amount: str
    held: str
    tokens: str
    note: str


async def user(request: web.Request) -> web.StreamResponse:
    """A user's (or a chat pool's) balance, ledger and conversations by size, and the grant form."""
    parts = request.app[PARTS]
    account = await _account(request, parts)
    if isinstance(account, web.Response):
        return account
    session = request[SESSION]
    notice, session.flash = session.flash, None  # shown once, after a grant
    return await _user_page(request, parts, account, notice=notice)


async def _user_page(
    request: web.Request,
    parts: ConsoleParts,
    account: NamedAccount,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    amount: str = "",
    note: str = "",
) -> web.Response:
    ledger = parts.store.ledger
    view, allowance, activity = await asyncio.gather(
        ledger.peek(account.owner), ledger.allowance_of(account.owner), ledger.activity(account.owner, 50)
    )
    conversations = (
        await parts.store.conversations.counts_of_user(account.user_id) if account.user_id is not None else []
    )
    name = str(account.name)
    return render(
        request,
        "user.html",
        status=status,
        title=name,
        name=name,
        link=_user_link(name),
        shared_with=account.shared_with,
        balance="unlimited (a bot admin)" if view.unlimited else _exact(view.balance),
        pending_refill=usd(view.pending_refill) if view.pending_refill else None,
        allowance=_allowance(ledger.policy.period, allowance),
        ledger=[_ledger_row(item) for item in activity],
        conversations=[(c.platform, c.chat_id, c.messages, _when(c.last_at)) for c in conversations],
        notice=notice,
        error=error,
        amount=amount,
        note=note,
    )


async def grant(request: web.Request) -> web.StreamResponse:
    """Add credit (or take it away), as `venice-bots admin grant` does; the CSRF token is checked
    before this runs."""
    parts = request.app[PARTS]
    account = await _account(request, parts)
    if isinstance(account, web.Response):
        return account
    form = await request.post()
    raw_amount, raw_note = str(form.get("amount", "")).strip(), str(form.get("note", "")).strip()
    try:
        amount = parse_usd(raw_amount)
        if not amount:
            raise InvalidInput("A grant of zero changes nothing.")
        if len(raw_note) > 200:
            raise InvalidInput("Keep the note under 200 characters.")
    except BotError as exc:
        return await _user_page(
            request, parts, account, status=400, error=exc.user_message, amount=raw_amount, note=raw_note
        )
    balance = await parts.store.ledger.grant(account.owner, amount, actor="web", note=raw_note or None)
    log.info("Console grant of %s to %s", usd(amount), account.name)
    done = "Granted" if amount > 0 else "Took away"
    request[SESSION].flash = f"{done} {usd(abs(amount))}. The balance is {usd(balance)} now."
    # After a POST, a redirect: reloading the page shows it again, never grants twice.
    raise web.HTTPSeeOther(_user_link(str(account.name)))


async def _account(request: web.Request, parts: ConsoleParts) -> NamedAccount | web.Response:
    """The account the URL names, or a page saying why there is none."""
    finder = AccountFinder(parts.store.users, parts.store.ledger, parts.store.conversations)
    try:
        return await finder.find(parse_account_name(request.match_info["name"], hint=HINT), hint=HINT)
    except BotError as exc:
        return render(request, "message.html", status=404, title="Not found", message=exc.user_message)


def _ledger_row(item: Activity) -> _LedgerRow:
    what = FEATURE_NAMES.get(item.feature or "", item.feature or "") if item.feature else "credit"
    tokens = item.tokens
    return _LedgerRow(
        when=_when(item.created_at),
        what=what,
        status=item.status,
        amount=_exact(item.amount),
        held=_exact(item.held) if item.held else "",
        tokens=f"{tokens.prompt_tokens:,} ({tokens.cached_tokens:,} cached)" if tokens else "",
        note=item.note or "",
    )


def _exact(micro: int) -> str:
    """An amount to the micro-dollar when under a cent ($0.000185): the ledger's real cost of a
    cheap answer, which the users' rounding shows as $0.00."""
    if micro and abs(micro) < 10_000:
        digits = f"{abs(micro) / 1_000_000:.6f}".rstrip("0")
        return f"{'-' if micro < 0 else ''}${digits}"
    return usd(micro)


def _allowance(period: str, amount: int) -> str:
    if period == "none" or not amount:
        return "none"
    return f"{usd(amount)} {period}"


def _when(stamp: float) -> str:
    return f"{utc_minute(stamp)} UTC"
