"""Send a reply's files into a chat: photos and albums, voice notes, audio, videos, documents."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest

from adapters.telegram.media import Outgoing, filename, plan
from adapters.telegram.media import caption as as_caption
from adapters.telegram.render import Part
from adapters.telegram.sender import TelegramSender
from adapters.telegram.target import Target
from core.events import Attachment

log = logging.getLogger(__name__)

VOICE_BLOCKED = (
    "ℹ️ Your privacy settings block voice messages, so here it is as an audio file. To get voice "
    "messages, allow them under Settings → Privacy and Security → Voice Messages."
)
# sendPhoto's refusals of an image it cannot show as a photo; the image then goes as a file.
_PHOTO_REFUSALS = (
    "photo_invalid_dimensions",
    "too big for a photo",
    "image_process_failed",
    "photo_save_file_invalid",
    "photo_ext_invalid",
)
_ACTIONS = {
    "photo": ChatAction.UPLOAD_PHOTO,
    "album": ChatAction.UPLOAD_PHOTO,
    "voice": ChatAction.UPLOAD_VOICE,
    "audio": ChatAction.UPLOAD_VOICE,
    "video": ChatAction.UPLOAD_VIDEO,
    "document": ChatAction.UPLOAD_DOCUMENT,
}


def takes_markup(attachments: tuple[Attachment, ...]) -> bool:
    """Whether the first message of these files can carry buttons (an album cannot)."""
    calls = plan(attachments)
    return bool(calls) and calls[0].method != "album"


class Uploader:
    """Send files into one chat; the caption and buttons go on the first message.

    An image sendPhoto refuses goes as a document; a voice note to a user who blocks voice
    messages goes as an audio file, with a notice that says why.
    """

    def __init__(self, bot: Bot, sender: TelegramSender, target: Target) -> None:
        self._bot = bot
        self._sender = sender
        self._target = target
        self.message_ids: list[int] = []

    async def send(
        self,
        attachments: tuple[Attachment, ...],
        caption: Part | None,
        markup: InlineKeyboardMarkup | None,
        *,
        reply: bool,
    ) -> None:
        """Send the files; ``reply``: the first one answers the user's message (groups)."""
        for index, call in enumerate(plan(attachments)):
            first = index == 0
            await self._sender.send(
                self._target.chat_id,
                self._bot.send_chat_action,
                essential=False,
                action=_ACTIONS[call.method],
                message_thread_id=self._target.thread_id,
            )
            await self._send(call, caption if first else None, markup if first else None, reply and first)

    async def _send(
        self, call: Outgoing, caption: Part | None, markup: InlineKeyboardMarkup | None, reply: bool
    ) -> None:
        where = self._where(reply)
        file = call.files[0]
        if call.method in ("photo", "album"):
            try:
                if call.method == "album":
                    await self._album(call.files, caption, where)
                else:
                    await self._captioned(
                        self._bot.send_photo,
                        caption,
                        markup,
                        photo=file.data,
                        filename=filename(file),
                        **where,
                    )
                return
            except BadRequest as exc:
                if not any(reason in exc.message.lower() for reason in _PHOTO_REFUSALS):
                    raise
                log.info("Telegram refused an image as a photo (%s); sending it as a file", exc.message)
            for index, image in enumerate(call.files):
                await self._captioned(
                    self._bot.send_document,
                    caption if index == 0 else None,
                    markup if index == 0 else None,
                    document=image.data,
                    filename=filename(image),
                    **(where if index == 0 else self._where(False)),
                )
        elif call.method == "voice":
            await self._voice(file, caption, markup, where)
        elif call.method == "audio":
            await self._captioned(
                self._bot.send_audio,
                caption,
                markup,
                audio=file.data,
                filename=filename(file),
                **_duration(file),
                **where,
            )
        elif call.method == "video":
            await self._captioned(
                self._bot.send_video,
                caption,
                markup,
                video=file.data,
                supports_streaming=True,
                filename=filename(file),
                **_duration(file),
                **where,
            )
        else:
            await self._captioned(
                self._bot.send_document, caption, markup, document=file.data, filename=filename(file), **where
            )

    async def _voice(
        self,
        file: Attachment,
        caption: Part | None,
        markup: InlineKeyboardMarkup | None,
        where: dict[str, Any],
    ) -> None:
        try:
            await self._captioned(
                self._bot.send_voice,
                caption,
                markup,
                voice=file.data,
                filename=filename(file),
                **_duration(file),
                **where,
            )
            return
        except BadRequest as exc:
            if "voice_messages_forbidden" not in exc.message.lower():
                raise
            log.info("Chat %s blocks voice messages; sending an audio file", self._target.chat_id)
        # The same Ogg/Opus bytes play as an audio file, which privacy settings do not block.
        texts = [caption.markdown] if caption else []
        with_notice = as_caption("\n\n".join([*texts, VOICE_BLOCKED]))
        await self._captioned(
            self._bot.send_audio,
            with_notice or caption,
            markup,
            audio=file.data,
            filename=filename(file),
            title="Voice reply",
            **_duration(file),
            **where,
        )
        if with_notice is None:
            await self._captioned(
                self._bot.send_message, None, None, text=VOICE_BLOCKED, **self._where(False)
            )

    async def _album(
        self, files: tuple[Attachment, ...], caption: Part | None, where: dict[str, Any]
    ) -> None:
        for html in (True, False):
            media = []
            for index, image in enumerate(files):
                text = None if caption is None or index else (caption.html if html else caption.markdown)
                media.append(
                    InputMediaPhoto(
                        image.data,
                        filename=filename(image),
                        caption=text,
                        parse_mode=ParseMode.HTML if html and text else None,
                    )
                )
            try:
                sent = await self._sender.send(
                    self._target.chat_id, self._bot.send_media_group, media=media, **where
                )
            except BadRequest as exc:
                if html and caption is not None and "parse entities" in exc.message.lower():
                    continue
                raise
            self.message_ids += [m.message_id for m in sent or ()]
            return

    async def _captioned(
        self,
        call: Callable[..., Awaitable[Message]],
        caption: Part | None,
        markup: InlineKeyboardMarkup | None,
        **kwargs: Any,
    ) -> None:
        """Send with the caption as HTML, or as plain text when Telegram refuses the HTML."""
        if markup is not None:
            kwargs["reply_markup"] = markup
        if caption is not None:
            try:
                sent = await self._sender.send(
                    self._target.chat_id, call, caption=caption.html, parse_mode=ParseMode.HTML, **kwargs
                )
                self._sent(sent)
                return
            except BadRequest as exc:
                if "parse entities" not in exc.message.lower():
                    raise
                log.warning("Telegram refused our caption HTML (%s); sending plain text", exc.message)
            kwargs["caption"] = caption.markdown
        self._sent(await self._sender.send(self._target.chat_id, call, **kwargs))

    def _sent(self, message: Message | None) -> None:
        if message is not None:
            self.message_ids.append(message.message_id)

    def _where(self, reply: bool) -> dict[str, Any]:
        where: dict[str, Any] = {"message_thread_id": self._target.thread_id}
        if reply and self._target.reply_to is not None:
            where["reply_parameters"] = ReplyParameters(
                self._target.reply_to, allow_sending_without_reply=True
            )
        return where


def _duration(file: Attachment) -> dict[str, Any]:
    return {"duration": max(1, round(file.duration))} if file.duration else {}
