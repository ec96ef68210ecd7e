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

from adapters.telegram import media
from adapters.telegram.menus import Menus
from adapters.telegram.render import Part, heading, split
from adapters.telegram.sender import TelegramSender
from adapters.telegram.target import Target
from adapters.telegram.uploads import Uploader, takes_markup
from core.events import Activity, Attachment, Reply, ReplyStream, Speaker

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows a chat action for 5 s
ACTIVITY_CHECK = 0.25  # how often a changed activity is noticed
ACTIONS: dict[Activity, ChatAction] = {
    "typing": ChatAction.TYPING,
    "upload_photo": ChatAction.UPLOAD_PHOTO,
    "record_voice": ChatAction.RECORD_VOICE,
    "upload_video": ChatAction.UPLOAD_VIDEO,
    "upload_document": ChatAction.UPLOAD_DOCUMENT,
}


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
        self.file_message_ids: list[int] = []
        self._woken = asyncio.Event()  # the stream's activity changed
        self._activity_shown: str = ""
        self._head: Part | None = None  # the speaker's name above the answer, in groups
        self.reply: Reply | None = None  # the answer, once it is complete (being delivered)

    @property
    def message_ids(self) -> list[int]:
        """The text messages this answer occupies, in order (files not included)."""
        return [message_id for message_id, _, _ in self._shown]

    async def write_stream(self, stream: ReplyStream) -> Reply:
        """Follow a streaming answer, then deliver it whole; returns the final reply.

        While it streams, the text so far is shown with the stream's status line under it,
        at most once an interval; the final reply replaces both. Raises what
        ``stream.reply()`` raises (the caller reports it to the user).
        """
        self._speak_as(stream.speaker)
        activity = asyncio.create_task(self._show_activity(stream))
        interval = (
            self._pace.draft
            if self._use_draft
            else self._pace.private_edit
            if self._target.private
            else self._pace.group_edit
        )
        # The first update waits one interval too: an answer that is complete by then goes
        # straight to its final message, one call instead of two.
        text, shown, last = "", "", self._clock()
        deltas = aiter(stream)
        pending: asyncio.Future[str] | None = None
        try:
            while True:
                state = _with_status(text, stream.status)
                due = last + interval - self._clock()
                changed = bool(state.strip()) and state != shown
                if changed and due <= 0:
                    last, shown = self._clock(), state
                    await self._show(state, final=False)
                    continue
                try:
                    if pending is None and not (changed and stream.status):
                        # Text keeps coming: a change shows with the next delta, or as the
                        # final message. Awaited directly: no timer, no task per delta.
                        delta = await anext(deltas)
                    else:
                        # A progress line may sit unchanged for long (a video renders): wake
                        # when its turn comes, not only when the next delta does.
                        if pending is None:
                            pending = asyncio.ensure_future(anext(deltas))
                        done, _ = await asyncio.wait({pending}, timeout=due if changed else None)
                        if not done:
                            continue
                        finished, pending = pending, None
                        delta = finished.result()
                except StopAsyncIteration:
                    break
                if stream.activity != self._activity_shown:
                    self._woken.set()  # only then: waking the activity task costs a task switch
                text += delta
            reply = self.reply = await stream.reply()
        except Exception:
            if not text.strip():
                await self._drop_progress()  # only a progress line was shown: the error replaces it
            raise
        finally:
            if pending is not None:
                pending.cancel()
            activity.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await activity
        if reply.attachments and not text.strip():
            await self._drop_progress()
            await self.write_reply(reply)
            return reply
        self._speak_as(reply.speaker)
        await self._show(as_markdown(reply), final=True, markup=self._menus.keyboard(reply.choices))
        if reply.attachments:  # the answer is shown as text already: the files follow it
            await self._upload(reply.attachments, None, None)
        return reply

    async def write_reply(self, reply: Reply) -> None:
        """Deliver a reply that is complete already (a command's answer, a finished job).

        Files carry the text as their caption when it fits one (1,024 characters) and no
        buttons need a message of their own; otherwise the text goes first and the files
        follow without a caption.
        """
        self.reply = reply
        self._speak_as(reply.speaker)
        markdown = as_markdown(reply)
        markup = self._menus.keyboard(reply.choices)
        if not reply.attachments:
            await self._show(markdown or "Done.", final=True, markup=markup)
            return
        caption = media.caption(markdown, self._head)
        if caption is None or (markup is not None and not takes_markup(reply.attachments)):
            if markdown:
                await self._show(markdown, final=True, markup=markup)
            caption, markup = None, None
        await self._upload(reply.attachments, caption, markup)

    async def write_error(self, text: str) -> None:
        """Tell the user something went wrong, in a message of its own."""
        await self._send(Part(f"⚠️ {text}", ""), markup=None, essential=True, html=False)

    def _speak_as(self, speaker: Speaker | None) -> None:
        """Show the speaker's name above the answer in groups; a DM knows who it talks to."""
        if speaker is not None and not self._target.private:
            self._head = heading(speaker.name)

    async def _upload(
        self, attachments: tuple[Attachment, ...], caption: Part | None, markup: InlineKeyboardMarkup | None
    ) -> None:
        uploader = Uploader(self._bot, self._sender, self._target)
        try:
            await uploader.send(attachments, caption, markup, reply=not self._shown)
        finally:
            self.file_message_ids += uploader.message_ids
            if uploader.message_ids:
                self._visible.set()

    async def _drop_progress(self) -> None:
        """Delete messages that showed only a progress line (the result or an error follows)."""
        for message_id, _, _ in self._shown:
            with contextlib.suppress(BadRequest):
                await self._sender.send(
                    self._target.chat_id, self._bot.delete_message, essential=False, message_id=message_id
                )
        self._shown.clear()

    async def _show(self, text: str, *, final: bool, markup: InlineKeyboardMarkup | None = None) -> None:
        parts = split(text, head=self._head)
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
        sent = await self._send(
            part, markup=markup, essential=essential, reply=index == 0 and not self._shown
        )
        if sent is not None:
            entry = (sent[0].message_id, sent[1], markup)
            if index < len(self._shown):
                self._shown[index] = entry
            else:
                self._shown.append(entry)

    async def _send(
        self,
        part: Part,
        *,
        markup: InlineKeyboardMarkup | None,
        essential: bool,
        reply: bool = False,
        html: bool = True,
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
                    target.chat_id,
                    self._bot.send_message,
                    essential=essential,
                    text=part.html,
                    parse_mode=ParseMode.HTML,
                    **kwargs,
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
                    self._target.chat_id,
                    self._bot.edit_message_text,
                    essential=essential,
                    message_id=message_id,
                    text=text,
                    parse_mode=mode,
                    reply_markup=markup,
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
                    target.chat_id,
                    self._bot.send_message_draft,
                    essential=False,
                    draft_id=self._draft_id,
                    text=text,
                    parse_mode=mode,
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

    async def _show_activity(self, stream: ReplyStream) -> None:
        """Show the stream's activity ("typing…", "recording a voice message…") while it runs.

        "Typing" stops once words are visible; other activities (a voice being recorded after
        the text is shown) go on until the stream ends.
        """
        loop = asyncio.get_running_loop()
        sent_at, sent = -TYPING_EVERY, ""
        while True:
            activity = stream.activity
            self._activity_shown = activity
            wanted = "" if activity == "typing" and self._visible.is_set() else activity
            if wanted and (wanted != sent or loop.time() - sent_at >= TYPING_EVERY):
                sent_at, sent = loop.time(), wanted
                await self._sender.send(
                    self._target.chat_id,
                    self._bot.send_chat_action,
                    essential=False,
                    action=ACTIONS.get(wanted, ChatAction.TYPING),
                    message_thread_id=self._target.thread_id,
                )
            # A delta (or a status change) may come with a new activity: look again then.
            # (Not wait_for: on Python 3.11 it can swallow the cancel that ends this loop.)
            woken = asyncio.ensure_future(self._woken.wait())
            try:
                await asyncio.wait({woken}, timeout=ACTIVITY_CHECK)
            finally:
                woken.cancel()
            self._woken.clear()


def _with_status(text: str, status: str) -> str:
    """What a streaming answer shows: the text so far, and the progress line under it."""
    return f"{text}\n\n{status}" if text.strip() and status else text or status
