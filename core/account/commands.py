"""The account commands: /balance, /usage, /link, /whoami, /pool; for bot admins /grant,
/setallowance, /ledger and /status."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.billing.accounts import AccountName, NamedAccount, parse_account_name
from core.commands import Access, Arg, Audience, Command, CommandContext
from core.errors import InvalidInput, PermissionDenied
from core.events import Reply
from core.money import format_activity, format_entries, parse_usd, usd
from core.text import plural

if TYPE_CHECKING:
    from core.billing.accounts import AccountFinder
    from core.billing.cashier import Cashier
    from core.ports.storage import ChatSettingsStore, ConversationStore, LedgerStore
    from core.settings import Settings
    from core.venice.client import VeniceClient

LINK_CODE_SECONDS = 600
# 32 letters and digits nobody confuses (no 0/O, 1/I): 8 of them are 40 bits, typed as ABCD-EFGH.
LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LINK_CODE_LENGTH = 8
LINK_MAX_WRONG = 6  # wrong codes within LINK_LOCK_SECONDS lock the sender out of /link ...
LINK_LOCK_SECONDS = 600  # ... for this long
USER_ARG = Arg(  # admin commands
    "user", "platform:id, or an id on this platform", required=True, example="telegram:123456"
)
ID_HINT = "/whoami shows each user their own id"
UNSEEN_HINT = "ask them to send it a message or /whoami first"


class AccountCommands:
    """Handlers for who pays: balances, usage, linked accounts, shared balances, grants."""

    def __init__(
        self,
        settings: Settings,
        *,
        chat_settings: ChatSettingsStore,
        conversations: ConversationStore,
        ledger: LedgerStore,
        cashier: Cashier,
        accounts: AccountFinder,
        venice: VeniceClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._chat_settings = chat_settings
        self._conversations = conversations
        self._ledger = ledger
        self._cashier = cashier
        self._accounts = accounts
        self._venice = venice
        self._started_at = time.time()
        # /link codes: code → (account owner, platform, expiry); short-lived, kept in memory.
        self._link_codes: dict[str, tuple[str, str, float]] = {}
        # /link guessing: sender → times of their recent wrong codes, and when a lock ends.
        self._link_misses: dict[str, list[float]] = {}
        self._link_locked: dict[str, float] = {}
        self._clock = clock

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command("balance", "Your credit, allowance, next refill and spending", self.balance),
            Command("usage", "Your latest actions, what each cost, and the credit you got", self.usage),
            Command(
                "link",
                "Use one balance on several platforms: get a code here, send it from the other",
                self.link,
                (Arg("code", "The code /link gave you on the other platform"),),
            ),
            Command(
                "whoami",
                "Your id (for the bot's admins and ADMIN_USER_IDS), this chat's id, linked accounts",
                self.whoami,
            ),
            Command(
                "setallowance",
                "Set a user's allowance per period in USD ('default' for the bot's)",
                self.setallowance,
                (USER_ARG, Arg("amount", "USD per period, or default", required=True, example="2")),
                access=Access.BOT_ADMIN,
            ),
            Command(
                "pool",
                "In group chats: everyone here spends from one shared balance (on or off)",
                self.pool,
                (Arg("mode", "on or off", choices=("on", "off")),),
            ),
            Command(
                "ledger",
                "A user's latest ledger entries",
                self.ledger,
                (USER_ARG,),
                access=Access.BOT_ADMIN,
            ),
            Command(
                "grant",
                "Give a user credit in USD (negative takes it away)",
                self.grant,
                (USER_ARG, Arg("amount", "USD, e.g. 5 or 0.50", required=True, example="5")),
                access=Access.BOT_ADMIN,
            ),
            Command(
                "status",
                "Bot health: Venice limits and balance, failures, storage",
                self.status,
                access=Access.BOT_ADMIN,
                audience=Audience.ASKER,
            ),
        ]

    async def balance(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Own balance, allowance, next refill, spending by feature this period."""
        ledger = self._ledger
        owner = await self._cashier.account_of(ctx.message)
        if await ledger.is_unlimited(owner):
            return Reply("You are one of the bot's admins: your use is not limited.")
        balance = await ledger.balance(owner)
        policy = ledger.policy
        now = time.time()
        lines = [f"Balance: {usd(balance)}"]
        start = policy.period_start(now)
        if start is not None:
            roll = ", unused credit carries over" if policy.roll_over else ""
            lines.append(f"Allowance: {usd(policy.amount)} {policy.period}{roll}")
            refill = policy.next_refill(now)
            assert refill is not None
            lines.append(f"Next refill: {datetime.fromtimestamp(refill, UTC):%Y-%m-%d %H:%M} UTC")
            spent = await ledger.spending(owner, start)
            if spent:
                lines.append("Spent this period: " + ", ".join(f"{f} {usd(v)}" for f, v in spent.items()))
        return Reply("\n".join(lines))

    async def usage(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """The caller's latest actions with what each cost, and the credit they got."""
        owner = await self._cashier.account_of(ctx.message)
        return Reply(format_activity(await self._ledger.activity(owner, limit=15)))

    async def link(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Join this platform's account to the one that made the code."""
        msg = ctx.message
        sender = f"{msg.platform}:{msg.user_id}"
        now = self._clock()
        self._forget_stale_link_state(now)
        locked_until = self._link_locked.get(sender)
        if locked_until is not None:
            raise InvalidInput(_link_locked_text(locked_until - now))
        owner = await self._cashier.account_of(msg)
        code = args.get("code")
        codes = self._link_codes
        if not code:
            new = _new_link_code()
            codes[new] = (owner, msg.platform, now + LINK_CODE_SECONDS)
            return Reply(
                f"Your link code: {new}\nWithin {LINK_CODE_SECONDS // 60} minutes, send "
                f"/link {new} to this bot on the other platform (Telegram or Discord). Both will "
                "then use this account's balance."
            )
        typed = _normal_link_code(str(code))
        entry = codes.get(typed)
        if entry is None:
            misses = self._link_misses.setdefault(sender, [])
            misses.append(now)
            if len(misses) >= LINK_MAX_WRONG:
                del self._link_misses[sender]
                self._link_locked[sender] = now + LINK_LOCK_SECONDS
                raise InvalidInput(_link_locked_text(LINK_LOCK_SECONDS))
            raise InvalidInput(
                "That code is unknown or has expired. Send /link on the other platform for a new one."
            )
        target, platform, _ = entry
        if target == owner:
            raise InvalidInput("That code is for this same account; send it from the other platform.")
        if platform == msg.platform:  # the code stays valid for the other platform
            raise InvalidInput(
                f"That code was made on {platform}: /link joins accounts on two different platforms. "
                "Send it to this bot on the other platform."
            )
        del codes[typed]
        user_id = await self._conversations.user_id(msg.platform, msg.user_id, msg.user_name)
        moved = await self._ledger.link(user_id, target, actor=sender)
        note = f" Your {usd(moved)} of credit moved there too." if moved else ""
        return Reply(f"Linked: here you now use the same balance as on {platform}.{note}")

    def _forget_stale_link_state(self, now: float) -> None:
        """Drop expired codes, wrong guesses older than the window, and ended locks."""
        codes = self._link_codes
        for stale in [c for c, (_, _, expires) in codes.items() if expires < now]:
            del codes[stale]
        for sender, misses in list(self._link_misses.items()):
            misses[:] = [t for t in misses if t > now - LINK_LOCK_SECONDS]
            if not misses:
                del self._link_misses[sender]
        for sender, until in list(self._link_locked.items()):
            if until <= now:
                del self._link_locked[sender]

    async def whoami(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """The caller's own ids as admins name them, the chat's, linked accounts, admin rights."""
        msg = ctx.message
        # Now the bot knows them: an admin can grant them credit by the id shown here.
        await self._conversations.user_id(msg.platform, msg.user_id, msg.user_name)
        me = AccountName(msg.platform, msg.user_id)
        account = await self._accounts.find(me, hint="")
        named = f" ({msg.user_name})" if msg.user_name and msg.user_name != msg.user_id else ""
        lines = [f"Your id: {me}{named}, as ADMIN_USER_IDS and `venice-bots admin` take it"]
        if msg.is_direct:
            lines.append(f"This chat: {msg.platform}:{msg.chat_id} (a private chat)")
        else:
            pool = AccountName(msg.platform, msg.chat_id, is_chat=True)
            lines.append(f"This chat: {msg.platform}:{msg.chat_id}; its shared balance (/pool) is {pool}")
        if msg.thread_id:
            lines.append(f"Thread: {msg.thread_id}")
        if msg.server_id:
            lines.append(f"Server: {msg.server_id} (a server id, as DISCORD_GUILD_IDS takes it)")
        if account.shared_with:
            lines.append(f"Linked: {', '.join(account.shared_with)} (one balance, joined with /link)")
        if not ctx.is_bot_admin:
            lines.append("Bot admin: no")
        elif msg.platform == "console":
            lines.append("Bot admin: yes (the console's operator always is)")
        else:
            lines.append("Bot admin: yes (listed in ADMIN_USER_IDS)")
        return Reply("\n".join(lines))

    async def _named_account(self, ctx: CommandContext, text: str) -> NamedAccount:
        """The account of a user an admin names (or of a chat's shared balance); never creates one."""
        name = parse_account_name(text, default_platform=ctx.message.platform, hint=ID_HINT)
        return await self._accounts.find(name, hint=UNSEEN_HINT)

    async def grant(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Give (or take) credit; bot admins only."""
        msg = ctx.message
        account = await self._named_account(ctx, str(args["user"]))
        amount = parse_usd(str(args["amount"]))
        ledger = self._ledger
        balance = await ledger.grant(account.owner, amount, actor=f"{msg.platform}:{msg.user_id}")
        verb = "Granted" if amount > 0 else "Took"
        return Reply(
            f"{verb} {usd(abs(amount))} {'to' if amount > 0 else 'from'} {account.name}. "
            f"Their balance: {usd(balance)}{account.shared_note}."
        )

    async def setallowance(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """A user's own allowance; bot admins only."""
        ledger = self._ledger
        account = await self._named_account(ctx, str(args["user"]))
        raw = str(args["amount"])
        amount = None if raw.lower() == "default" else parse_usd(raw)
        await ledger.set_allowance(account.owner, amount)
        shown = usd(await ledger.allowance_of(account.owner))
        return Reply(
            f"{account.name} now gets {shown} per period ({ledger.policy.period}), from the next refill."
        )

    async def pool(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set the chat's shared balance."""
        mode, msg = args.get("mode"), ctx.message
        if mode is None:
            state = "on" if (await self._chat_settings.get(msg.platform, msg.chat_id)).shared_pool else "off"
            return Reply(f"The shared balance is {state} here. Change it with /pool on|off.")
        if ctx.message.is_direct:
            return Reply("A direct chat has one user; /pool is for group chats.")
        if not ctx.is_bot_admin:  # it spends an account that no chat member owns
            raise PermissionDenied("Only the bot's admins can turn the shared balance on or off.")
        ctx.require_chat_admin("change the shared balance")
        await self._chat_settings.update(msg.platform, msg.chat_id, shared_pool=mode == "on")
        if mode == "on":
            return Reply(
                "Everyone here now spends from this chat's shared balance. Give it "
                f"credit with /grant chat:{ctx.message.platform}:{ctx.message.chat_id} <amount>."
            )
        return Reply("Everyone here spends from their own balance again.")

    async def ledger(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Another user's latest entries; bot admins only."""
        account = await self._named_account(ctx, str(args["user"]))
        ledger = self._ledger
        view = await ledger.peek(account.owner)  # looking writes nothing, not even a refill
        return Reply(
            f"{account.name}, balance {usd(view.balance)}{account.shared_note}\n"
            + format_entries(await ledger.entries(account.owner, limit=20))
        )

    async def status(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """What an operator wants to know at a glance (bot admins only)."""
        venice = self._venice
        limits = venice.rate_limits
        counts = await self._conversations.counts()
        uptime = int(time.time() - self._started_at)

        def known(value: object, unit: str = "") -> str:
            return "unknown" if value is None else f"{value}{unit}"

        lines = [
            f"Up for {uptime // 3600} h {uptime // 60 % 60} min.",
            f"Venice requests left this minute: {known(limits.remaining_requests)}"
            f" of {known(limits.limit_requests)}; tokens left: {known(limits.remaining_tokens)}.",
            f"Venice balance (last seen): {known(limits.balance_usd, ' USD')}, "
            f"{known(limits.balance_diem, ' DIEM')}.",
            f"Failed Venice requests in the last 30 s: {venice.failures.recent}.",
            f"Stored: {plural(counts['users'], 'user')}, "
            f"{plural(counts['conversations'], 'conversation')}, {plural(counts['messages'], 'message')}.",
        ]
        return Reply("\n".join(lines))


def _new_link_code() -> str:
    """A fresh /link code: 40 random bits as two groups of four easy-to-type characters."""
    chars = "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    return f"{chars[:4]}-{chars[4:]}"


def _normal_link_code(typed: str) -> str:
    """A typed code as stored: upper case, the dash where it belongs, spaces and dashes ignored."""
    chars = "".join(typed.upper().replace("-", "").split())
    return f"{chars[:4]}-{chars[4:]}"


def _link_locked_text(seconds_left: float) -> str:
    minutes = max(1, round(seconds_left / 60))
    return (
        f"Too many wrong /link codes: /link is locked for you for {plural(minutes, 'minute')}. "
        "Then send /link on the other platform for a new code."
    )
