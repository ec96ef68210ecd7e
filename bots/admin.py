"""``venice-bots admin``: users, the ledger and users' data from the command line (users, grant,
balance, ledger, check, forget).

Every action names users exactly as ``admin users`` lists them, checks the name against its
platform's id form, and refuses a user the bot has never seen: a typo neither funds nor
"forgets" the wrong person. The read actions (users, balance, ledger, check) write nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from adapters.storage.postgres.database import is_postgres_url
from adapters.storage.sqlite.database import Database, sqlite_path
from adapters.storage.sqlite.migrations import discover, recorded_version
from adapters.telegram.target import private_chat_id as telegram_private_chat
from bots.bootstrap import open_store, others_running
from core.billing.accounts import AccountFinder, parse_account_name
from core.billing.orphans import open_holds
from core.errors import InvalidInput
from core.money import format_entries, parse_usd, usd
from core.ports.records import AccountView, KnownUser
from core.ports.storage import LedgerStore, Store, UserDirectory
from core.privacy.policy import Privacy
from core.settings import Settings
from core.text import plural, utc_minute

ID_HINT = "see `venice-bots admin users`"
UNSEEN_HINT = "`venice-bots admin users --search ...` lists known users"
GRANT_UNSEEN_HINT = UNSEEN_HINT + "; `admin grant --create` funds someone who has not written yet"
NAMES = (
    "Users are named as `admin users` lists them: telegram:<user id>, discord:<user id>, "
    "console:<login name> (the operator at the terminal) or console:guest:<name> "
    "(venice-bots chat --guest NAME). A chat's shared balance (/pool) is chat:<platform>:<chat id>, "
    "e.g. chat:telegram:-1001234567890. In a chat, /whoami shows a user their own id."
)
USER_HELP = "telegram:ID, discord:ID, console:NAME or console:guest:NAME (see `admin users`)"
ACCOUNT_HELP = USER_HELP + ", or chat:PLATFORM:CHAT_ID for a chat's shared balance"


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# Each action: (one line for `admin --help`, what `admin ACTION --help` says).
ACTIONS = {
    "users": (
        "list the users the bot has seen, with their ids and balances",
        "List the users the bot has seen, most recently active first: the id to use in the other "
        "admin actions and in ADMIN_USER_IDS, their name, balance (with any allowance due), last "
        "stored message and first contact. Changes nothing.",
    ),
    "grant": (
        "give a user credit in USD (negative takes it away)",
        "Give a user, or a chat's shared balance, credit in USD; a negative amount takes it away. "
        "A linked user (/link) is credited on the balance they share.",
    ),
    "balance": (
        "a user's balance",
        "Show a user's balance (or a chat's shared balance) as /balance would, counting an "
        "allowance refill that is due. Changes nothing.",
    ),
    "ledger": (
        "a user's latest ledger entries",
        "Show a user's balance and latest ledger entries, newest first. Changes nothing.",
    ),
    "check": (
        "verify the ledger; list open and orphaned holds",
        "Verify that every account's balance is the sum of its ledger entries, and list the holds "
        "still open (money reserved for work in flight) and those no live work owns (orphaned: "
        "left by a crash; the bot's next start refunds them). Exit 1 on a mismatch or an orphan. "
        "Changes nothing.",
    ),
    "forget": (
        "delete a user's messages, summaries, settings and links",
        "Delete a user's messages (and the answers to them), summaries, private chat settings and "
        "account links, as /forget does. Ledger amounts are kept; they hold no content.",
    ),
}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's own private type
    """Add ``admin`` and its actions to the command line."""
    admin = sub.add_parser(
        "admin",
        help="users, credit ledger and users' data: " + ", ".join(ACTIONS),
        description="Look up users, manage their credit and delete their data. The read actions "
        "(users, balance, ledger, check) change nothing.",
        epilog=NAMES,
    )
    actions = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    parsers = {
        name: actions.add_parser(name, help=short, description=long, epilog=NAMES)
        for name, (short, long) in ACTIONS.items()
    }
    parsers["users"].add_argument(
        "--search", metavar="TEXT", help="only users whose id or name contains TEXT"
    )
    parsers["users"].add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="show at most N users (default: 50)"
    )
    for name in ("grant", "balance", "ledger"):
        parsers[name].add_argument("user", help=ACCOUNT_HELP)
    parsers["grant"].add_argument("amount", help="USD, e.g. 5 or 0.50 or -1")
    parsers["grant"].add_argument(
        "--create",
        action="store_true",
        help="fund a user (or chat) the bot has not seen yet, e.g. before their first message",
    )
    parsers["ledger"].add_argument(
        "--limit", type=_positive, default=30, metavar="N", help="show the N newest entries (default: 30)"
    )
    parsers["forget"].add_argument("user", help=USER_HELP)


async def admin(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run one admin action; 0 on success, 1 when ``check`` finds a problem.

    Raises ``BotError`` (exit 1, nothing written) for a malformed or unknown user.
    """
    if is_postgres_url(settings.database_url):
        from adapters.storage.postgres import database as pg
        from adapters.storage.postgres import migrations as pg_migrations

        async with pg.Database.open(settings.database_url, pool_size=1) as pool:
            _require_schema(
                await pg_migrations.recorded_version(pool),
                len(discover(pg_migrations.default_migrations_dir())),
                pool.where,
            )
    else:
        _require_database(settings)
        path = sqlite_path(settings.database_url)
        async with Database.open(path, read_only=True) as db:  # looks, and leaves no trace
            _require_schema(await recorded_version(db), len(discover()), db.path)
    async with open_store(settings) as store:  # the schema is current: opening migrates nothing
        ledger, users = store.ledger, store.users
        if args.action == "check":
            return await _check(store, settings, out)
        if args.action == "users":
            await _list_users(users, ledger, args.search, args.limit, out)
            return 0
        conversations = store.conversations
        # Everything typed is checked before anything is looked up (or, with --create, created).
        amount = parse_usd(args.amount) if args.action == "grant" else 0
        if args.action == "grant" and not amount:
            raise InvalidInput("A grant of zero changes nothing.")
        name = parse_account_name(str(args.user), chats=args.action != "forget", hint=ID_HINT)
        account = await AccountFinder(users, ledger, conversations).find(
            name,
            hint=GRANT_UNSEEN_HINT if args.action == "grant" else UNSEEN_HINT,
            create=args.action == "grant" and args.create,
        )
        if args.action == "forget":
            privacy = Privacy(
                store.privacy,
                settings,
                conversations=conversations,
                chat_settings=store.chat_settings,
                ledger=ledger,
            )
            # A Telegram user's private chat with the bot has their id: its settings go too.
            private_chat = telegram_private_chat(name.id) if name.platform == "telegram" else None
            done = await privacy.forget(name.platform, name.id, dm_chat=private_chat)
            whole = (
                f" ({plural(done.conversations, 'conversation')} removed whole)" if done.conversations else ""
            )
            out.write(
                f"Forgot {name}: deleted {done.held}{whole}, {plural(done.settings, 'chat setting')}.\n"
            )
        elif args.action == "grant":
            new = await ledger.grant(account.owner, amount, actor="cli")
            out.write(f"{name} now has {usd(new)}{account.shared_note}.\n")
        else:
            out.write(f"{name}: {_describe(await ledger.peek(account.owner), ledger)}{account.shared_note}\n")
            if args.action == "ledger":
                out.write(format_entries(await ledger.entries(account.owner, limit=args.limit)) + "\n")
    return 0


def _require_database(settings: Settings) -> None:
    """Refuse to run on a database that does not exist: opening it would create it."""
    path = sqlite_path(settings.database_url)
    if path != ":memory:" and not Path(path).exists():
        raise InvalidInput(
            f"There is no database at {path}. Check DATABASE_URL; the bot creates the database "
            "when it first starts (`venice-bots migrate` creates it now)."
        )


def _require_schema(current: int, latest: int, where: str) -> None:
    """Refuse a database on another schema version than this code's: migrating it here, under a
    bot that may still run the older version, is for `venice-bots migrate` to do, when asked."""
    if current < latest:
        raise InvalidInput(
            f"The database at {where} is at schema {current} of {latest}: run `venice-bots migrate` "
            "first (the bot also migrates it when it starts). Nothing was changed."
        )
    if current > latest:
        raise InvalidInput(
            f"The database at {where} is at schema {current}, newer than this venice-bots knows "
            f"({latest}): use the version that the bot runs. Nothing was changed."
        )


async def _check(store: Store, settings: Settings, out: TextIO) -> int:
    """The ledger's invariant, the holds still open and whether any is orphaned, the inbox."""
    ledger = store.ledger
    problems = await ledger.check()
    for problem in problems:
        out.write(f"MISMATCH {problem}\n")
    out.write(
        f"{await ledger.count_accounts()} accounts checked: "
        f"{'all balances match their entries' if not problems else 'problems found'}.\n"
    )
    # While a bot runs, a hold younger than the longest a turn can take may be its live turn's.
    running = await others_running(store, settings)
    held, orphans = await open_holds(
        ledger, store.video_jobs, others_running=running, lease=settings.turn_lease_seconds
    )
    for hold in orphans:
        out.write(
            f"ORPHANED hold {hold.request_id} of {hold.owner}: {usd(hold.amount)} for {hold.feature or '?'}, "
            f"made {utc_minute(hold.created_at)}; the next start of the bot refunds it\n"
        )
    out.write(
        f"{len(held)} open holds ({usd(sum(h.amount for h in held))}), {len(orphans)} orphaned"
        f"{'' if running else '; the bot is not running'}.\n"
    )
    waiting = await store.inbox.unanswered()
    if waiting:
        out.write(f"{waiting} received messages not answered yet (answered at the next start if recent).\n")
    return 1 if problems or orphans else 0


def _describe(view: AccountView, ledger: LedgerStore) -> str:
    """A balance for the operator: unlimited, or with the refill it counts but has not booked."""
    if view.unlimited:
        return f"unlimited (a bot admin; {usd(view.balance)} on the account)"
    if view.pending_refill:
        return (
            f"{usd(view.balance)} (with the {ledger.policy.period} allowance of "
            f"{usd(view.pending_refill)} that is booked at their next use)"
        )
    return usd(view.balance)


async def _list_users(
    users: UserDirectory, ledger: LedgerStore, search: str | None, limit: int, out: TextIO
) -> None:
    page = await users.search(search, limit=limit)
    if not page.users:
        out.write(
            f"No user's id or name contains {search!r}.\n"
            if search
            else "No users yet: nobody has written to the bot.\n"
        )
        return
    rows = [("ID", "NAME", "BALANCE", "LAST MESSAGE (UTC)", "FIRST SEEN")]
    for user in page.users:
        rows.append(
            (
                user.name,
                _short(user.display_name or "-"),
                await _balance_cell(user, ledger),
                utc_minute(user.last_message) if user.last_message else "-",
                utc_minute(user.first_seen)[:10],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)))
        out.write(f"  {row[-1]}\n")
    if page.total > len(page.users):
        out.write(
            f"Showing {len(page.users)} of {page.total} users, most recently active first; "
            "narrow with --search or raise --limit.\n"
        )
    else:
        out.write(f"{plural(page.total, 'user')}.\n")


async def _balance_cell(user: KnownUser, ledger: LedgerStore) -> str:
    view = await ledger.peek(user.owner)
    shown = "unlimited" if view.unlimited else usd(view.balance)
    return f"{shown} via {user.owner_name}" if user.owner_name else shown


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
