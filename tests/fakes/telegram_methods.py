"""The Bot API methods of the fake Telegram, on TelegramState; FakeTelegram serves them over HTTP."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.telegram_api import (
    ALLOWED_REACTIONS,
    CHAT_ACTIONS,
    MAX_CAPTION,
    TgError,
    bad_request,
    chat_member,
    check_commands,
    check_reply_markup,
    formatted_text,
    image_size,
)
from tests.fakes.telegram_state import (
    GROUP_TYPES,
    Draft,
    FileMeta,
    Params,
    SentFile,
    TelegramState,
    scope_key,
)

__all__ = ["TelegramBotApi"]

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024  # sendPhoto's limit; bigger images go as documents
MAX_ALBUM = 10
# What sendMediaGroup takes, and which types may share an album.
_ALBUM_TYPES = {"photo": "visual", "video": "visual", "audio": "audio", "document": "document"}
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)


class TelegramBotApi(TelegramState):
    """The Bot API methods: each takes the decoded parameters and returns the result or raises TgError."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_first_name: str) -> None:
        """Create an empty Telegram with one bot, and the table of methods."""
        super().__init__(bot_id=bot_id, bot_username=bot_username, bot_first_name=bot_first_name)
        self._methods: dict[str, Callable[[Params], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": lambda p: self._edit(p, "text"),
            "editMessageCaption": lambda p: self._edit(p, "caption"),
            "editMessageReplyMarkup": lambda p: self._edit(p, None),
            "deleteMessage": self._delete_message,
            "sendMessageDraft": self._send_message_draft,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": lambda p: self._send_file(p, "document"),
            "sendPhoto": lambda p: self._send_file(p, "photo"),
            "sendVoice": lambda p: self._send_file(p, "voice"),
            "sendAudio": lambda p: self._send_file(p, "audio"),
            "sendVideo": lambda p: self._send_file(p, "video"),
            "sendMediaGroup": self._send_media_group,
            "getFile": self._get_file,
            "setMessageReaction": self._set_message_reaction,
        }
        # What a user's block (or a kick from a group) stops.
        self._blockable = frozenset(
            {
                "sendMessage",
                "sendMessageDraft",
                "sendChatAction",
                "sendDocument",
                "sendPhoto",
                "sendVoice",
                "sendAudio",
                "sendVideo",
                "sendMediaGroup",
                "editMessageText",
                "editMessageCaption",
                "editMessageReplyMarkup",
            }
        )

    def _get_me(self, p: Params) -> dict[str, Any]:
        return self.bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: Params) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise TgError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if isinstance(p.get("allowed_updates"), list):
            self._updates.allowed_updates = p["allowed_updates"]
        offset, limit, timeout = p.get("offset", 0), p.get("limit", 100), p.get("timeout", 0)
        if not all(isinstance(value, int | float) for value in (offset, limit, timeout)):
            raise bad_request("wrong parameter in getUpdates")
        return await self._updates.get(int(offset), int(limit), float(timeout))

    def _set_webhook(self, p: Params) -> bool:
        url = str(p.get("url") or "")
        if not url:
            return self._delete_webhook(p)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
            # Invented wording: Telegram wants public HTTPS on ports 443, 80, 88 or 8443; the fake only local.
            raise bad_request("bad webhook: the fake Telegram delivers webhooks only to http://127.0.0.1")
        secret = p.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        self.webhook_url, self.webhook_secret = url, (str(secret) if secret is not None else None)
        if isinstance(p.get("allowed_updates"), list):
            self._updates.allowed_updates = p["allowed_updates"]
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, p: Params) -> bool:
        self.webhook_url, self.webhook_secret = "", None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, p: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        if self._updates.allowed_updates:
            info["allowed_updates"] = list(self._updates.allowed_updates)
        return info

    def _send_message(self, p: Params) -> dict[str, Any]:
        chat = self._chat(p)
        text, entities = formatted_text(p, strict=self.strict_html)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._bot_message(chat, p, content)

    def _edit(self, p: Params, field: str | None) -> dict[str, Any]:
        """editMessageText (field "text"), editMessageCaption ("caption"), editMessageReplyMarkup (None)."""
        if p.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")  # the fake keeps no inline messages
        chat = self._chat(p)
        stored = self._stored(chat["id"], self._message_id(p))
        if stored is None:
            raise bad_request("message to edit not found")
        if not stored.by_bot:
            raise bad_request("message can't be edited")
        if field == "text" and "text" not in stored.message:
            raise bad_request("there is no text in the message to edit")
        if field == "caption" and "text" in stored.message:
            raise bad_request("there is no caption in the message to edit")
        # Validate everything before changing anything: a rejected edit leaves the message as it was.
        new = copy.deepcopy(stored.message)
        if field == "text":
            text, entities = formatted_text(p, strict=self.strict_html)
            _set_text(new, "text", "entities", text, entities)
        elif field == "caption":
            text, entities = formatted_text(
                p,
                field="caption",
                entities_field="caption_entities",
                limit=MAX_CAPTION,
                allow_empty=True,
                strict=self.strict_html,
            )
            _set_text(new, "caption", "caption_entities", text, entities)
        # Telegram reads a missing reply_markup as "no keyboard": an edit without it removes the buttons.
        markup = self._inline_markup(p)
        if markup is None:
            new.pop("reply_markup", None)
        else:
            new["reply_markup"] = markup
        if new == stored.message:
            raise bad_request(_NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        stored.message = new
        if field is not None:
            stored.texts.append(new.get(field, ""))
        return copy.deepcopy(new)

    def _delete_message(self, p: Params) -> bool:
        chat = self._chat(p)
        stored = self._stored(chat["id"], self._message_id(p))
        if stored is None:
            raise bad_request("message to delete not found")
        if not stored.by_bot and chat["type"] in GROUP_TYPES and (chat["id"], self.bot_id) not in self.admins:
            raise bad_request("message can't be deleted")
        stored.deleted = True
        return True

    def _send_message_draft(self, p: Params) -> bool:
        chat = self._chat(p)
        if chat["type"] != "private":
            raise bad_request("chat not found")  # drafts exist only in private chats
        draft_id = p.get("draft_id")
        if not isinstance(draft_id, int) or draft_id == 0:
            raise bad_request(
                "draft_id must be non-zero"
            )  # invented wording; the docs say "must be non-zero"
        # Bot API 10.0: 0-4096 characters; an empty text shows a "Thinking..." placeholder.
        text, entities = formatted_text(p, allow_empty=True, strict=self.strict_html)
        thread_id = p.get("message_thread_id")
        draft = Draft(
            draft_id, text, entities, thread_id if isinstance(thread_id, int) else None, time.time()
        )
        self._drafts.setdefault(chat["id"], []).append(draft)
        return True

    def _send_chat_action(self, p: Params) -> bool:
        chat = self._chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._chat_actions.setdefault(chat["id"], []).append(str(p["action"]))
        return True

    def _set_message_reaction(self, p: Params) -> bool:
        chat = self._chat(p)
        message_id = self._message_id(p)
        if self._stored(chat["id"], message_id) is None:
            raise bad_request("MESSAGE_ID_INVALID")
        reaction = p.get("reaction") or []
        if not isinstance(reaction, list):
            raise bad_request("can't parse reaction types JSON object")
        if len(reaction) > 1:
            raise bad_request("REACTIONS_TOO_MANY")  # bots may set one reaction
        for item in reaction:
            # PTB sends an emoji outside the list as a custom emoji with the emoji as its id: invalid too.
            kind = item.get("type") if isinstance(item, dict) else None
            valid_emoji = kind == "emoji" and item.get("emoji") in ALLOWED_REACTIONS
            valid_custom = kind == "custom_emoji" and str(item.get("custom_emoji_id", "")).isdigit()
            if not (valid_emoji or valid_custom):
                raise bad_request("REACTION_INVALID")
        self.reactions[(chat["id"], message_id)] = copy.deepcopy(reaction)
        return True

    def _send_file(self, p: Params, kind: str) -> dict[str, Any]:
        chat = self._chat(p)
        if kind == "voice" and chat["id"] in self._voice_forbidden:
            # The user allows voice messages from nobody (or not from this bot): Telegram refuses the send.
            raise bad_request("VOICE_MESSAGES_FORBIDDEN")
        meta = self._input_file(p, kind)
        caption, entities = formatted_text(
            p,
            field="caption",
            entities_field="caption_entities",
            limit=MAX_CAPTION,
            allow_empty=True,
            strict=self.strict_html,
        )
        content: dict[str, Any] = {kind: self._file_object(meta, kind, p)}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        message = self._bot_message(chat, p, content)
        self._record_sent("send" + kind.capitalize(), kind, _given(p, kind), meta, p, message)
        return message

    def _send_media_group(self, p: Params) -> list[dict[str, Any]]:
        """sendMediaGroup: 2-10 photos and videos, or documents, or audio files, sent as one album."""
        chat = self._chat(p)
        media = p.get("media")
        if media is None:
            raise bad_request('parameter "media" is required')
        if isinstance(media, str):
            raise bad_request("can't parse media JSON object")
        if not isinstance(media, list) or not media:
            raise bad_request("there are no messages to send")
        if len(media) > MAX_ALBUM:
            raise bad_request("too many messages to send as an album")
        if len(media) < 2:
            # Invented wording: the Bot API documents 2-10 items; the fake holds adapters to that.
            raise bad_request("media group must include 2-10 items")
        groups = set()
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in _ALBUM_TYPES:
                raise bad_request(f"can't parse InputMedia: type \"{kind}\" can't be used in sendMediaGroup")
            groups.add(_ALBUM_TYPES[kind])
        if len(groups) > 1:
            odd = "document" if "document" in groups else "audio"
            raise bad_request(f"{odd} can't be mixed with other media types")
        if p.get("reply_markup") is not None:
            raise bad_request("reply markup can't be used with media groups")  # invented wording
        # Check every item before sending any: an album is sent whole or not at all.
        prepared = []
        for item in media:
            kind = item["type"]
            item_params = {**item, kind: item.get("media")}
            item_params = {**p, **item_params}  # the upload fields (attach://name) live in the request
            meta = self._input_file(item_params, kind)
            caption, entities = formatted_text(
                item,
                field="caption",
                entities_field="caption_entities",
                limit=MAX_CAPTION,
                allow_empty=True,
                strict=self.strict_html,
            )
            prepared.append((kind, item, item_params, meta, caption, entities))
        group_id = str(13_000_000_000_000_000 + next(self._counter))
        sent = []
        for kind, item, item_params, meta, caption, entities in prepared:
            content: dict[str, Any] = {"media_group_id": group_id, kind: self._file_object(meta, kind, item)}
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
            message = self._bot_message(chat, {k: v for k, v in p.items() if k != "reply_markup"}, content)
            self._record_sent("sendMediaGroup", kind, _given(item_params, kind), meta, dict(item), message)
            sent.append(message)
        return sent

    def _record_sent(
        self, method: str, field: str, given: Any, meta: FileMeta, p: Params, message: dict[str, Any]
    ) -> None:
        upload = given if isinstance(given, dict) and "data" in given else None
        params = {k: ("<file>" if isinstance(v, dict) and "data" in v else v) for k, v in p.items()}
        self._sent_files.setdefault(message["chat"]["id"], []).append(
            SentFile(
                method,
                field,
                upload["filename"] if upload else None,
                self.files[meta.file_id],
                params,
                upload["content_type"] if upload else None,
                message["message_id"],
            )
        )

    def _get_file(self, p: Params) -> dict[str, Any]:
        file_id = p.get("file_id")
        if not isinstance(file_id, str) or file_id not in self.files:
            raise bad_request("invalid file_id")
        size = self.file_size(file_id)
        if size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        meta = self._meta(file_id)
        return {
            "file_id": file_id,
            "file_unique_id": meta.unique_id,
            "file_size": size,
            "file_path": meta.path,
        }

    def _file_by_path(self, path: str) -> str | None:
        return next((meta.file_id for meta in self._file_meta.values() if meta.path == path), None)

    def _set_my_commands(self, p: Params) -> bool:
        commands = check_commands(p.get("commands", []))  # no "commands" at all sets an empty list
        self.commands[(self._scope(p), str(p.get("language_code") or ""))] = commands
        return True

    def _delete_my_commands(self, p: Params) -> bool:
        self.commands.pop((self._scope(p), str(p.get("language_code") or "")), None)
        return True

    def _get_my_commands(self, p: Params) -> list[dict[str, str]]:
        return copy.deepcopy(self.commands.get((self._scope(p), str(p.get("language_code") or "")), []))

    def _get_chat(self, p: Params) -> dict[str, Any]:
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return self._chat(p) | {"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _get_chat_member(self, p: Params) -> dict[str, Any]:
        chat = self._chat(p)
        user_id = p.get("user_id")
        if not isinstance(user_id, int) or (user_id not in self.users and user_id != self.bot_id):
            raise bad_request("user not found")
        return chat_member(self._status(chat["id"], user_id), self._user(user_id))

    def _get_chat_administrators(self, p: Params) -> list[dict[str, Any]]:
        chat = self._chat(p)
        if chat["type"] == "private":
            raise bad_request("there are no administrators in the private chat")
        ids = [self.creators[chat["id"]]] if chat["id"] in self.creators else []
        ids += sorted(user for chat_id, user in self.admins if chat_id == chat["id"] and user not in ids)
        return [chat_member(self._status(chat["id"], user_id), self._user(user_id)) for user_id in ids]

    def _answer_callback_query(self, p: Params) -> bool:
        query_id = p.get("callback_query_id")
        if query_id not in self._open_callbacks:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._open_callbacks.discard(query_id)
        self.callback_answers[str(query_id)] = dict(p)
        return True

    def _chat(self, p: Params) -> dict[str, Any]:
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):  # "@username"
            for chat in self.chats.values():
                if chat.get("username") and f"@{chat['username']}".lower() == chat_id.lower():
                    return copy.deepcopy(chat)
        elif chat_id in self.chats:
            return copy.deepcopy(self.chats[chat_id])
        raise bad_request("chat not found")

    @staticmethod
    def _message_id(p: Params) -> int:
        message_id = p.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        return message_id

    def _scope(self, p: Params) -> str:
        scope = p.get("scope")
        if scope is None:
            return scope_key(None)
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        if "chat_id" in scope:
            self._chat({"chat_id": scope["chat_id"]})
        return scope_key(scope)

    def _status(self, chat_id: int, user_id: int) -> str:
        if self.creators.get(chat_id) == user_id:
            return "creator"
        return "administrator" if (chat_id, user_id) in self.admins else "member"

    def _inline_markup(self, p: Params) -> dict[str, Any] | None:
        markup = p.get("reply_markup")
        check_reply_markup(markup)
        # Only inline keyboards belong to a message; reply keyboards live in the user's client.
        return copy.deepcopy(markup) if isinstance(markup, dict) and "inline_keyboard" in markup else None

    def _bot_message(self, chat: dict[str, Any], p: Params, content: dict[str, Any]) -> dict[str, Any]:
        """Store and return a message the bot sends: thread, reply and inline keyboard as Telegram sets them."""
        markup = self._inline_markup(p)
        reply_to = self._reply_target(chat, p)
        thread_id = p.get("message_thread_id")
        if thread_id is None and reply_to is not None and chat.get("is_forum"):
            thread_id = reply_to.get("message_thread_id")  # a reply goes to the replied message's topic
        if thread_id is not None and chat.get("is_forum") and not self._is_topic(chat["id"], thread_id):
            raise bad_request("message thread not found")
        if markup is not None:
            content["reply_markup"] = markup
        return self._new_message(
            chat, self.bot_user(), content, thread_id=thread_id, reply_to=reply_to, by_bot=True
        )

    def _reply_target(self, chat: dict[str, Any], p: Params) -> dict[str, Any] | None:
        parameters = p.get("reply_parameters")
        if isinstance(parameters, str):
            raise bad_request("can't parse reply parameters JSON object")
        if isinstance(parameters, dict):
            target_id, allow = (
                parameters.get("message_id"),
                parameters.get("allow_sending_without_reply", False),
            )
            target_chat = parameters.get("chat_id", chat["id"])
        else:
            target_id, allow = p.get("reply_to_message_id"), p.get("allow_sending_without_reply", False)
            target_chat = chat["id"]
        if target_id is None:
            return None
        stored = self._stored(target_chat, target_id) if isinstance(target_id, int) else None
        if stored is None:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return stored.message

    def _input_file(self, p: Params, kind: str) -> FileMeta:
        value = _given(p, kind)
        if isinstance(value, dict) and "data" in value:  # uploaded in this request
            data = value["data"]
            if not data:
                raise bad_request("file must be non-empty")
            if kind == "photo":
                _check_photo(data)
            return self._store_file(data, kind, value.get("filename"), value.get("content_type"))
        if isinstance(value, str) and value:
            if value in self.files:
                return self._meta(value)
            raise bad_request("wrong file identifier/HTTP URL specified")  # the fake fetches no URLs
        raise bad_request(f"there is no {kind} in the request")


def _given(p: Params, field: str) -> Any:
    """The file given for ``field``: an upload (``attach://name`` points at another part), a file_id, or None."""
    value = p.get(field)
    if isinstance(value, str) and value.startswith("attach://"):
        return p.get(value[len("attach://") :])
    return value


def _check_photo(data: bytes) -> None:
    """Refuse an uploaded photo as sendPhoto does: not an image, over 10 MB, or dimensions it cannot show."""
    if len(data) > MAX_PHOTO_UPLOAD:
        raise bad_request(
            f"file of size {len(data)} bytes is too big for a photo; "
            f"the maximum size is {MAX_PHOTO_UPLOAD} bytes"
        )
    size = image_size(data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    # "The photo's width and height must not exceed 10000 in total. Width and height ratio must be at most 20."
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


def _set_text(
    message: dict[str, Any], field: str, entities_field: str, text: str, entities: list[dict[str, Any]]
) -> None:
    if text or field == "text":
        message[field] = text
    else:
        message.pop(field, None)
    if entities:
        message[entities_field] = entities
    else:
        message.pop(entities_field, None)
