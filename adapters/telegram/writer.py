"""Show an answer in Telegram while it streams, then deliver all of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest

from adapters.telegram.menus import Menus
from adapters.telegram.render import Part, split
from adapters.telegram.sender import TelegramSender
from core.events import Reply, ReplyStream

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows a chat action for 5 s


@dataclass(frozen=True)
class Target:
    """Where an answer goes."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None  # in groups, answer as a reply to the question
    private: bool = True


@dataclass
class Pace:
    """How often a streaming answer may be updated (seconds)."""

    draft: float = 0.4
    private_edit: float = 1.0
    group_edit: float = 3.0  # groups allow about 20 messages a minute


def as_markdown(reply: Reply) -> str:
    """The reply's text with its sources and notices, as Markdown."""
    pieces = [reply.text] if reply.text else []
    if reply.citations:
        lines = []
        for number, citation in enumerate(reply.citations, start=1):
            title = citation.title.replace("[", "(").replace("]", ")")
            lines.append(f"[{number}] [{title}]({citation.url})")
        pieces.append("Sources:\n" + "\n".join(lines))
    for notice in reply.notices:
        pieces.append(("⚠️ " if notice.level == "warning" else "ℹ️ ") + notice.text)
    return "\n\n".join(pieces)


class AnswerWriter:
    """Write one answer into one chat: drafts or edits while it streams, then the final parts."""

    def __init__(
        self,
        bot: Bot,
        sender: TelegramSender,
        menus: Menus,
        target: Target,
        *,
        use_draft: bool,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_draft_unsupported: Callable[[], None] | None = None,
    ) -> None:
        self._bot = bot
        self._sender = sender
        self._menus = menus
        self._target = target
        self._use_draft = use_draft and target.private
        self._pace = pace or Pace()
        self._clock = clock
        self._on_draft_unsupported = on_draft_unsupported
        self._shown: list[tuple[int, str, InlineKeyboardMarkup | None]] = []
        self._draft_id = random.randint(1, 2**31 - 1)
        self._visible = asyncio.Event()

    @property
    def message_ids(self) -> list[int]:
        """The messages this answer occupies, in order."""
        return [message_id for message_id, _, _ in self._shown]

    async def write_stream(self, stream: ReplyStream) -> Reply:
        """Follow a streaming answer, then deliver it whole; returns the final reply.

        Raises what ``stream.reply()`` raises (the caller reports it to the user).
        """
        typing = asyncio.create_task(self._typing())
        interval = (
            self._pace.draft if self._use_draft
            else self._pace.private_edit if self._target.private else self._pace.group_edit
        )
        # The first update waits one interval too: an answer that is complete by then goes
        # straight to its final message, one call instead of two.
        text, last = "", self._clock()
        try:
            async for delta in stream:
                text += delta
                if text.strip() and self._clock() - last >= interval:
                    last = self._clock()
                    await self._show(text, final=False)
            reply = await stream.reply()
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
        await self._show(as_markdown(reply), final=True, markup=self._menus.keyboard(reply.choices))
        return reply

    async def write_reply(self, reply: Reply) -> None:
        """Deliver a reply that is complete already (a command's answer)."""
        await self._show(as_markdown(reply) or "Done.", final=True,
                         markup=self._menus.keyboard(reply.choices))

    async def write_error(self, text: str) -> None:
        """Tell the user something went wrong, in a message of its own."""
        await self._send(Part(f"⚠️ {text}", ""), markup=None, essential=True, html=False)

    async def _show(self, text: str, *, final: bool, markup: InlineKeyboardMarkup | None = None) -> None:
        parts = split(text)
        if not parts:
            return
        if not final and self._use_draft:
            for index, part in enumerate(parts[:-1]):  # finished parts become real messages
                await self._ensure(index, part, None, essential=False)
            if len(self._shown) >= len(parts) - 1:
                await self._draft(parts[-1])
            return
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self._ensure(index, part, markup if last else None, essential=final)

    async def _ensure(
        self, index: int, part: Part, markup: InlineKeyboardMarkup | None, *, essential: bool
    ) -> None:
        """Make message ``index`` of this answer show ``part``."""
        if index < len(self._shown):
            message_id, shown, shown_markup = self._shown[index]
            if shown in (part.html, part.markdown) and shown_markup == markup:
                return
            if await self._edit(message_id, part, markup, essential=essential):
                return
        if index > len(self._shown):
            return  # an earlier part was skipped (flood control): the final pass sends both
        sent = await self._send(part, markup=markup, essential=essential,
                                reply=index == 0 and not self._shown)
        if sent is not None:
            entry = (sent[0].message_id, sent[1], markup)
            if index < len(self._shown):
                self._shown[index] = entry
            else:
                self._shown.append(entry)

    async def _send(
        self, part: Part, *, markup: InlineKeyboardMarkup | None, essential: bool,
        reply: bool = False, html: bool = True,
    ) -> tuple[Message, str] | None:
        """Send a part as HTML, or as plain text when Telegram refuses the HTML.

        Returns the message and the text it was sent with; None when skipped or blocked.
        """
        target = self._target
        kwargs: dict[str, Any] = {
            "message_thread_id": target.thread_id,
            "reply_markup": markup,
            "link_preview_options": LinkPreviewOptions(is_disabled=True),
        }
        if reply and target.reply_to is not None:
            kwargs["reply_parameters"] = ReplyParameters(target.reply_to, allow_sending_without_reply=True)
        if html:
            try:
                message = await self._sender.send(
                    target.chat_id, self._bot.send_message, essential=essential,
                    text=part.html, parse_mode=ParseMode.HTML, **kwargs,
                )
                text = part.html
            except BadRequest as exc:
                if "parse entities" not in exc.message.lower():
                    raise
                log.warning("Telegram refused our HTML (%s); sending plain text", exc.message)
                html = False
        if not html:
            message = await self._sender.send(
                target.chat_id, self._bot.send_message, essential=essential, text=part.markdown, **kwargs
            )
            text = part.markdown
        if message is None:
            return None
        self._visible.set()
        return message, text

    async def _edit(
        self, message_id: int, part: Part, markup: InlineKeyboardMarkup | None, *, essential: bool
    ) -> bool:
        """Edit a message of this answer; False when it is gone and must be sent again."""
        for text, mode in ((part.html, ParseMode.HTML), (part.markdown, None)):
            try:
                await self._sender.send(
                    self._target.chat_id, self._bot.edit_message_text, essential=essential,
                    message_id=message_id, text=text, parse_mode=mode, reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as exc:
                reason = exc.message.lower()
                if "not modified" in reason:
                    pass
                elif "parse entities" in reason and mode is not None:
                    log.warning("Telegram refused our HTML (%s); editing as plain text", exc.message)
                    continue
                elif "not found" in reason:
                    return False
                else:
                    raise
            self._shown[self._index(message_id)] = (message_id, text, markup)
            return True
        return True

    async def _draft(self, part: Part) -> None:
        target = self._target
        for text, mode in ((part.html, ParseMode.HTML), (part.markdown, None)):
            try:
                await self._sender.send(
                    target.chat_id, self._bot.send_message_draft, essential=False,
                    draft_id=self._draft_id, text=text, parse_mode=mode,
                    message_thread_id=target.thread_id,
                )
                self._visible.set()
                return
            except BadRequest as exc:
                if "parse entities" in exc.message.lower() and mode is not None:
                    continue
                self._drafts_failed(exc)
                return
            except Exception as exc:  # noqa: BLE001 - e.g. a Bot API server without drafts
                self._drafts_failed(exc)
                return

    def _drafts_failed(self, exc: Exception) -> None:
        log.info("Message drafts unavailable (%s); streaming by editing instead", exc)
        self._use_draft = False
        if self._on_draft_unsupported:
            self._on_draft_unsupported()

    def _index(self, message_id: int) -> int:
        return next(i for i, (mid, _, _) in enumerate(self._shown) if mid == message_id)

    async def _typing(self) -> None:
        """Show "typing…" until the first words are visible."""
        while not self._visible.is_set():
            await self._sender.send(
                self._target.chat_id, self._bot.send_chat_action, essential=False,
                action=ChatAction.TYPING, message_thread_id=self._target.thread_id,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._visible.wait(), TYPING_EVERY)

