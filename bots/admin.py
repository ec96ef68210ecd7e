"""``venice-bots admin``: the ledger and users' data from the command line (grant, balance,
ledger, check, forget)."""

from __future__ import annotations

import argparse
from typing import TextIO

from bots.bootstrap import allowance_policy, open_database
from core.errors import InvalidInput
from core.ledger import Ledger, format_entries, parse_usd, usd
from core.privacy import Privacy
from core.settings import KNOWN_PLATFORMS, Settings
from core.storage.chat_settings import ChatSettingsStore
from core.storage.conversations import ConversationStore


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``admin`` and its actions to the command line."""
    admin = sub.add_parser(
        "admin", help="credit ledger and users' data: grant, balance, ledger, check, forget"
    )
    actions = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    grant = actions.add_parser("grant", help="give a user credit in USD (negative takes it away)")
    grant.add_argument("user", help="platform:id, e.g. telegram:123456")
    grant.add_argument("amount", help="USD, e.g. 5 or 0.50 or -1")
    balance = actions.add_parser("balance", help="a user's balance")
    balance.add_argument("user", help="platform:id")
    ledger = actions.add_parser("ledger", help="a user's latest ledger entries")
    ledger.add_argument("user", help="platform:id")
    ledger.add_argument("--limit", type=int, default=30)
    actions.add_parser("check", help="verify that every balance is the sum of its entries")
    forget = actions.add_parser("forget", help="delete a user's messages, summaries, settings and links")
    forget.add_argument("user", help="platform:id")


async def admin(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run one admin action; 0 on success, 1 when ``check`` finds a problem."""
    async with open_database(settings) as db:
        ledger = Ledger(db, policy=allowance_policy(settings))
        if args.action == "check":
            problems = await ledger.check()
            for problem in problems:
                out.write(f"MISMATCH {problem}\n")
            accounts = await db.fetchone("SELECT COUNT(*) FROM accounts")
            out.write(
                f"{accounts[0] if accounts else 0} accounts checked: "
                f"{'all balances match their entries' if not problems else 'problems found'}.\n"
            )
            return 1 if problems else 0
        platform, _, user = str(args.user).partition(":")
        if platform not in KNOWN_PLATFORMS or not user:
            raise InvalidInput(f"Name the user as platform:id, e.g. telegram:123456 (got {args.user!r}).")
        if args.action == "forget":
            privacy = Privacy(
                db,
                settings,
                conversations=ConversationStore(db),
                chat_settings=ChatSettingsStore(db),
                ledger=ledger,
            )
            done = await privacy.forget(platform, user)
            out.write(
                f"Forgot {args.user}: {done.messages} messages deleted "
                f"({done.conversations} whole conversations), {done.settings} chat settings.\n"
            )
            return 0
        owner = f"user:{await ConversationStore(db).user_id(platform, user, None)}"
        if args.action == "grant":
            new = await ledger.grant(owner, parse_usd(args.amount), actor="cli")
            out.write(f"{args.user} now has {usd(new)}.\n")
        elif args.action == "balance":
            out.write(f"{args.user}: {usd(await ledger.balance(owner))}\n")
        else:
            out.write(format_entries(await ledger.entries(owner, limit=args.limit)) + "\n")
    return 0
