"""Doctor's Telegram and Discord checks: the token and the URL, with no token ever printed."""

from __future__ import annotations

from typing import Any

import httpx

from bots.checks import CONNECT_SECONDS, READ_SECONDS, Report, reach_fix, status_text
from core.network import diagnose
from core.settings import Settings

DISCORD_PORTAL = "https://discord.com/developers/applications"
DISCORD_DEFAULT_URL = str(Settings.model_fields["discord_api_base_url"].default)
# Application flags: the Message Content intent switched on in the developer portal (the
# second one is what the switch sets for a bot in fewer than 100 servers).
_MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)


async def check_telegram(settings: Settings, report: Report) -> None:
    """Ask Telegram who the bot is: proves the token and TELEGRAM_BASE_URL."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError
    from telegram.request import HTTPXRequest

    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value()
    url = settings.telegram_base_url
    where = f"Telegram at {url}"
    bot = Bot(
        token,
        base_url=url,
        base_file_url=settings.telegram_base_file_url,
        request=HTTPXRequest(connect_timeout=CONNECT_SECONDS, read_timeout=READ_SECONDS),
    )
    try:
        async with bot:
            me = await bot.get_me()
            webhook = await bot.get_webhook_info()
    except InvalidToken:
        # Telegram answers 401 for a wrong token and 404 for a malformed one (or a wrong URL).
        report.line(
            "FAIL",
            f"{where}: the bot token was refused. Check TELEGRAM_BOT_TOKEN: @BotFather gives it "
            "(/mybots → your bot → API Token)"
            + ("." if "api.telegram.org" in url else ", and that TELEGRAM_BASE_URL ends in /bot."),
        )
        return
    except NetworkError as exc:
        failure = diagnose(exc)
        report.line(
            "FAIL", f"{where}: {_hide(failure.detail, token)}. {reach_fix(failure, 'TELEGRAM_BASE_URL')}"
        )
        return
    except TelegramError as exc:
        report.line(
            "FAIL",
            f"{where}: {_hide(exc.message, token)}. Check TELEGRAM_BASE_URL and TELEGRAM_BOT_TOKEN.",
        )
        return
    mode = f"webhook set to {webhook.url}" if webhook.url else "no webhook (long polling)"
    report.line("ok", f"Telegram bot @{me.username} works at {url}; {mode}")
    if not me.can_read_all_group_messages:
        report.line(
            "info",
            "Telegram privacy mode is on: in groups the bot sees commands, mentions and "
            "replies to it, which is all it answers anyway",
        )


async def check_discord(settings: Settings, http: httpx.AsyncClient, report: Report) -> None:
    """Ask Discord's REST API who the bot is: proves the token and DISCORD_API_BASE_URL."""
    assert settings.discord_bot_token is not None
    url = settings.discord_api_base_url
    headers = {"Authorization": f"Bot {settings.discord_bot_token.get_secret_value()}"}
    user = await _discord_get(http, url, "/users/@me", headers, report)
    if user is None:
        return
    name = str(user.get("username", "?"))
    if user.get("discriminator") not in (None, "0", "0000"):
        name = f"{name}#{user['discriminator']}"
    report.line("ok", f"Discord bot {name} works at {url}")
    application = await _discord_get(http, url, "/oauth2/applications/@me", headers, report)
    if application is not None and not int(application.get("flags") or 0) & _MESSAGE_CONTENT_FLAGS:
        report.line(
            "FAIL",
            "Discord: the Message Content intent is off for this application, so Discord refuses "
            "the bot's connection (4014, disallowed intents). Switch on Message Content Intent at "
            f"{DISCORD_PORTAL} → your app → Bot → Privileged Gateway Intents.",
        )


async def _discord_get(
    http: httpx.AsyncClient, url: str, path: str, headers: dict[str, str], report: Report
) -> dict[str, Any] | None:
    """GET one REST resource; on any failure print why and return None."""
    where = f"Discord at {url}"
    try:
        response = await http.get(
            url.rstrip("/") + path,
            headers=headers,
            timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS),
        )
    except httpx.TransportError as exc:
        failure = diagnose(exc)
        report.line("FAIL", f"{where}: {failure.detail}. {reach_fix(failure, 'DISCORD_API_BASE_URL')}")
        return None
    not_the_api = (
        f"so this is not Discord's REST API. Check DISCORD_API_BASE_URL: Discord's is {DISCORD_DEFAULT_URL}."
    )
    if response.status_code == 401:
        report.line(
            "FAIL",
            f"{where}: 401, the bot token was rejected. Check DISCORD_BOT_TOKEN: copy it again "
            f"from the developer portal ({DISCORD_PORTAL} → your app → Bot → Reset Token).",
        )
        return None
    if response.status_code in (404, 405):
        report.line("FAIL", f"{where}: {path} answered {status_text(response.status_code)}, {not_the_api}")
        return None
    if response.status_code >= 400:
        report.line(
            "FAIL",
            f"{where}: {path} answered {status_text(response.status_code)}. "
            + (
                "Wait a while: Discord limits how often this machine may ask."
                if response.status_code == 429
                else "Check DISCORD_API_BASE_URL and DISCORD_BOT_TOKEN."
            ),
        )
        return None
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        report.line(
            "FAIL", f"{where}: {path} answered with something that is not JSON ({kind}), {not_the_api}"
        )
        return None
    return body if isinstance(body, dict) else {}


def _hide(text: str, token: str) -> str:
    """The text without the token (PTB puts a refused token in some messages)."""
    return text.replace(token, "[TELEGRAM_BOT_TOKEN]")
