"""``venice-bots doctor``: check the key, the account and the database, without secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from bots.bootstrap import http_client, open_database
from core.errors import BotError
from core.settings import Settings
from core.storage.migrations import applied_version, discover
from core.venice.client import VeniceClient
from core.venice.retry import RetryPolicy


async def doctor(settings: Settings, out: TextIO) -> int:
    """Print what is configured and whether each part works; 0 when all do."""
    ok = True

    def line(status: str, what: str) -> None:
        out.write(f"[{status:^4}] {what}\n")

    key = settings.venice_api_key.get_secret_value()
    line("info", f"VENICE_API_KEY: set ({len(key)} characters)")
    line("info", f"VENICE_BASE_URL: {settings.venice_base_url}")
    line("info", f"DATABASE_URL: {settings.database_url}")
    line("info", f"DEFAULT_CHAT_MODEL: {settings.default_chat_model}")
    line("info", f"ADMIN_USER_IDS: {', '.join(sorted(settings.admin_user_ids)) or '(none)'}")
    platforms = [
        name
        for name, token in (
            ("Telegram", settings.telegram_bot_token),
            ("Discord", settings.discord_bot_token),
        )
        if token
    ]
    line("info", f"Platforms: {', '.join(platforms) or 'none configured (the console chat)'}")

    try:
        async with open_database(settings) as db:
            version = await applied_version(db)
            check = await db.pragma("quick_check")
            mode = await db.pragma("journal_mode")
        latest = len(discover())
        good = check == "ok" and version == latest
        ok &= good
        line(
            "ok" if good else "FAIL",
            f"Database: schema {version}/{latest}, journal {mode}, integrity {check}",
        )
    except BotError as exc:
        ok = False
        line("FAIL", f"Database: {exc.user_message}")
    except Exception as exc:  # noqa: BLE001 - a broken file, permissions: say what, not a traceback
        ok = False
        line("FAIL", f"Database: {type(exc).__name__}: {exc}")

    async with http_client(settings) as http:
        venice = VeniceClient(
            http,
            api_key=settings.venice_api_key,
            base_url=settings.venice_base_url,
            retry=RetryPolicy(max_attempts=1),
        )
        try:
            models = await venice.models("text")
            line("ok", f"Venice API key works: {len(models)} text models listed")
            if not any(m.id == settings.default_chat_model for m in models):
                ok = False
                line("FAIL", f"DEFAULT_CHAT_MODEL {settings.default_chat_model} is not offered")
        except BotError as exc:
            ok = False
            line("FAIL", f"Venice /models: {exc.user_message}")
        try:
            balance = await venice.balance()
            money = ", ".join(
                f"{v:g} {k}" for k, v in (("USD", balance.usd), ("DIEM", balance.diem)) if v is not None
            )
            good = balance.can_consume
            ok &= good
            line(
                "ok" if good else "FAIL",
                f"Venice account: {money or 'no balance reported'}; {'can' if good else 'CANNOT'} consume",
            )
        except BotError as exc:
            # A key without billing scope cannot read the balance; that is not fatal.
            line("warn", f"Venice balance: {exc.user_message}")
    if settings.telegram_bot_token is not None:
        ok &= await _check_telegram(settings, line)
    if settings.discord_bot_token is not None:
        ok &= await _check_discord(settings, line)
    out.write("All checks passed.\n" if ok else "Some checks failed.\n")
    return 0 if ok else 1


async def _check_telegram(settings: Settings, line: Callable[[str, str], None]) -> bool:
    """Ask Telegram who the bot is: proves the token and the Bot API URL."""
    from telegram import Bot
    from telegram.error import TelegramError

    assert settings.telegram_bot_token is not None
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
    )
    try:
        async with bot:
            me = await bot.get_me()
            webhook = await bot.get_webhook_info()
    except TelegramError as exc:
        # PTB puts a rejected token in its message: never print it.
        message = exc.message.replace(settings.telegram_bot_token.get_secret_value(), "[secret]")
        line("FAIL", f"Telegram: {message}")
        return False
    mode = f"webhook set to {webhook.url}" if webhook.url else "no webhook (long polling)"
    line("ok", f"Telegram bot @{me.username} works; {mode}")
    if not me.can_read_all_group_messages:
        line(
            "info",
            "Telegram privacy mode is on: in groups the bot sees commands, mentions and "
            "replies to it, which is all it answers anyway",
        )
    return True


async def _check_discord(settings: Settings, line: Callable[[str, str], None]) -> bool:
    """Log in to Discord's REST API: proves the token and the REST URL."""
    import discord

    assert settings.discord_bot_token is not None
    discord.http.Route.BASE = settings.discord_api_base_url
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(settings.discord_bot_token.get_secret_value())
        line("ok", f"Discord bot {client.user} works")
        return True
    except discord.LoginFailure:
        line("FAIL", "Discord rejected DISCORD_BOT_TOKEN")
    except discord.HTTPException as exc:
        line("FAIL", f"Discord: {exc.status} {exc.text[:100]}")
    except OSError as exc:
        line("FAIL", f"Cannot reach Discord at {settings.discord_api_base_url}: {exc}")
    finally:
        await client.close()
    return False
