"""The REST routes of the fake Discord: each takes a decoded request and returns the answer or raises DcError."""

from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_api import (
    DcError,
    Intent,
    Perm,
    check_commands,
    check_message,
    check_not_empty,
    field_error,
    iso,
)
from tests.fakes.discord_events import DiscordEvents
from tests.fakes.discord_state import (
    DM_TYPES,
    EPHEMERAL,
    IS_VOICE_MESSAGE,
    LOADING,
    THREAD_TYPES,
    StoredMessage,
)

__all__ = ["NO_CONTENT", "DiscordRest", "Handler", "RestRequest", "body_of", "snowflake"]

NO_CONTENT = object()  # a handler's answer for 204
_UPLOAD_FIELD = re.compile(r"files\[(\d+)\]|file(\d*)")


@dataclass
class RestRequest:
    """A decoded REST request."""

    method: str
    path: str  # after /api/v10
    params: dict[str, str]  # from the route's {placeholders}
    query: dict[str, str]
    json: Any  # the JSON body, or a multipart body's payload_json
    files: list[dict[str, Any]] = field(default_factory=list)  # {"field", "filename", "content_type", "data"}
    arrived: float = 0.0  # time.monotonic() when the request came in (before any scripted delay)


Handler = Callable[[RestRequest], Any]


class DiscordRest(DiscordEvents):
    """Discord's REST API over the world: a table of routes and their handlers."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        """Create the fake and its route table."""
        super().__init__(token=token, bot_name=bot_name)
        self.app_owner_id = self.add_user("app owner")
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/users/@me", lambda r: copy.deepcopy(self.bot_user)),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/users/{user_id}", self._get_user),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/applications/@me", self._application),
            ("GET", "/gateway", lambda r: {"url": self.gateway_url}),
            ("GET", "/gateway/bot", self._gateway_bot),
            ("GET", "/applications/{app_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/channels/{channel_id}/messages", self._history),
            ("POST", "/channels/{channel_id}/messages", self._create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._thread_from_message),
            ("POST", "/channels/{channel_id}/threads", self._thread_without_message),
        ]
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.add_routes(table)

    def add_routes(self, table: list[tuple[str, str, Handler]], *, first: bool = False) -> None:
        """Serve ``(method, "/path/{param}", handler)`` routes; the first route that matches wins.

        ``first`` puts them before the routes already served (to take over a path they share).
        """
        routes = [
            (method, _template_regex(template), template, handler) for method, template, handler in table
        ]
        self._routes = routes + self._routes if first else self._routes + routes

    def route(self, method: str, path: str) -> tuple[Handler, dict[str, str], str] | bool | None:
        """Return the handler, path parameters and template for a request; False if only the method is wrong."""
        path_known = False
        for route_method, pattern, template, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                if route_method == method:
                    return handler, match.groupdict(), template
                path_known = True
        return False if path_known else None

    # ---- users, application, gateway ---------------------------------------------------------------

    def _get_user(self, request: RestRequest) -> Any:
        user_id = snowflake(request.params["user_id"])
        if user_id not in self.users:
            raise DcError.unknown("User")
        return self.user_payload(user_id)

    def _open_dm(self, request: RestRequest) -> Any:
        recipient = snowflake(str((request.json or {}).get("recipient_id")))
        if recipient not in self.users or recipient == self.bot_id:
            raise DcError.coded(400, 50033, "Invalid Recipient(s)")
        return self.channel_payload(self.add_dm(recipient))

    def _application(self, request: RestRequest) -> Any:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "owner": self.user_payload(self.app_owner_id),
            "team": None,
            "bot": self.user_payload(self.bot_id),
            "redirect_uris": [],
            "rpc_origins": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "install_params": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
        }

    def _gateway_bot(self, request: RestRequest) -> Any:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": self.shards, "session_start_limit": limit}

    # ---- application commands ----------------------------------------------------------------------

    def _command_scope(self, request: RestRequest) -> int | None:
        if snowflake(request.params["app_id"]) != self.application_id:
            raise DcError.coded(403, 50001, "Missing Access")
        if "guild_id" not in request.params:
            return None
        guild_id = snowflake(request.params["guild_id"])
        if guild_id not in self.guilds:
            raise DcError.coded(
                403, 50001, "Missing Access"
            )  # what Discord says for a guild the bot is not in
        return guild_id

    def _get_commands(self, request: RestRequest) -> Any:
        return self.synced_commands(self._command_scope(request))

    def _put_commands(self, request: RestRequest) -> Any:
        scope = self._command_scope(request)
        check_commands(request.json)
        before = {(c["type"], c["name"]): c for c in self.commands.get(scope, [])}
        stored = []
        for command in request.json:
            kind = int(command.get("type", 1))
            old = before.get((kind, command["name"]))
            entry = {
                "id": old["id"] if old else str(self.new_id()),
                "application_id": str(self.application_id),
                "version": str(self.new_id()),
                "type": kind,
                "name": command["name"],
                "description": command.get("description", ""),
                "options": command.get("options") or [],
                "default_member_permissions": command.get("default_member_permissions"),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": command.get("nsfw", False),
                "name_localizations": command.get("name_localizations"),
                "description_localizations": command.get("description_localizations"),
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        self.command_puts += 1
        return copy.deepcopy(stored)

    # ---- channels and messages ---------------------------------------------------------------------

    def _channel(self, request: RestRequest) -> int:
        channel_id = snowflake(request.params["channel_id"])
        if channel_id not in self.channels:
            raise DcError.unknown("Channel")
        return channel_id

    def _get_channel(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        self.require(channel_id, Perm.VIEW_CHANNEL)
        return self.channel_payload(channel_id)

    def _typing(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        self._check_send(channel_id, {}, [])
        return NO_CONTENT

    def _history(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        self.require(channel_id, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        limit = int(request.query.get("limit", 50))
        if not 1 <= limit <= 100:
            raise DcError.form(
                {"limit": field_error("NUMBER_TYPE_MAX", "int value should be between 1 and 100.")}
            )
        visible = [m for m in self.messages(channel_id) if not m.get("flags", 0) & EPHEMERAL]
        before, after = request.query.get("before"), request.query.get("after")
        around = request.query.get("around")
        if before:
            visible = [m for m in visible if int(m["id"]) < int(before)]
        if after:
            return [m for m in visible if int(m["id"]) > int(after)][:limit][::-1]
        if around:
            older = [m for m in visible if int(m["id"]) <= int(around)][-(limit // 2 + limit % 2) :]
            newer = [m for m in visible if int(m["id"]) > int(around)][: limit // 2]
            return (older + newer)[::-1]
        return visible[-limit:][::-1]  # newest first, as Discord returns them

    def _get_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        self.require(channel_id, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        stored = self.stored(channel_id, snowflake(request.params["message_id"]))
        if stored.message.get("flags", 0) & EPHEMERAL:
            raise DcError.unknown("Message")
        return copy.deepcopy(stored.message)

    def _create_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        payload = body_of(request)
        check_message(payload, files=len(request.files))
        self._check_send(channel_id, payload, request.files)
        if int(payload.get("flags") or 0) & IS_VOICE_MESSAGE:
            self._check_voice_message(channel_id, payload, request.files)
        fields = self._new_message_fields(channel_id, payload, request.files)
        stored = self.create_message(channel_id, self.bot_id, payload.get("content") or "", **fields)
        self._emit_message("MESSAGE_CREATE", stored)
        return copy.deepcopy(stored.message)

    def _check_voice_message(
        self, channel_id: int, payload: dict[str, Any], files: list[dict[str, Any]]
    ) -> None:
        """Refuse a voice message as Discord does: text with it, not one audio file, no duration or waveform."""
        if self.refuse_voice_messages:
            raise DcError.coded(400, 50173, "You cannot send voice messages in this channel.")
        if self.channels[channel_id]["type"] not in DM_TYPES:
            self.require(channel_id, Perm.SEND_VOICE_MESSAGES)
        if (
            payload.get("content")
            or payload.get("embeds")
            or payload.get("poll")
            or payload.get("sticker_ids")
        ):
            raise DcError.coded(400, 50159, "Voice messages do not support additional content.")
        described = payload.get("attachments") or []
        if len(files) != 1 or len(described) != 1:
            raise DcError.coded(400, 50160, "Voice messages must have a single audio attachment.")
        meta = described[0]
        try:
            duration = float(meta["duration_secs"])
            levels = base64.b64decode(meta["waveform"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise DcError.coded(400, 50161, "Voice messages must have supporting metadata.") from None
        if duration <= 0 or not 0 < len(levels) <= 256:
            raise DcError.coded(400, 50161, "Voice messages must have supporting metadata.")

    def _check_send(self, channel_id: int, payload: dict[str, Any], files: list[dict[str, Any]]) -> None:
        channel = self.channels[channel_id]
        if channel["type"] in DM_TYPES:
            recipient = int(channel["recipients"][0]["id"])
            if recipient in self.closed_dms or self.users[recipient].get("bot"):
                raise DcError.coded(403, 50007, "Cannot send messages to this user")
            return
        bits = Perm.SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else Perm.SEND_MESSAGES
        if payload.get("embeds"):
            bits |= Perm.EMBED_LINKS
        if files:
            bits |= Perm.ATTACH_FILES
        self.require(channel_id, Perm.VIEW_CHANNEL | bits)
        if channel["type"] in THREAD_TYPES and channel["thread_metadata"]["archived"]:
            raise DcError.coded(400, 50083, "Thread is archived")

    def _new_message_fields(
        self, channel_id: int, payload: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "embeds": [_stored_embed(e) for e in payload.get("embeds") or []],
            "attachments": self._uploads(channel_id, payload, files, kept=[]),
            "components": payload.get("components") or [],
            "flags": int(payload.get("flags") or 0),
            "tts": bool(payload.get("tts")),
        }
        if payload.get("nonce") is not None:
            fields["nonce"] = payload["nonce"]
        reference = payload.get("message_reference")
        if reference:
            ref_channel = snowflake(str(reference.get("channel_id") or channel_id))
            try:
                fields.update(
                    self._reply_fields(
                        ref_channel, snowflake(str(reference["message_id"])), self.guild_of(channel_id)
                    )
                )
            except DcError:
                if reference.get("fail_if_not_exists", True):
                    raise DcError.form(
                        {
                            "message_reference": field_error(
                                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                            )
                        }
                    ) from None
        return fields

    def _uploads(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[dict[str, Any]],
        kept: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Return the message's attachments: kept ones listed in ``attachments``, then the new uploads."""
        by_index: dict[int, dict[str, Any]] = {}
        for order, upload in enumerate(files):
            if upload["data"] is not None and len(upload["data"]) > self.attachment_size_limit:
                raise DcError.coded(413, 40005, "Request entity too large")
            match = _UPLOAD_FIELD.fullmatch(upload["field"])
            index = int(match[1] or match[2] or order) if match else order
            by_index[index] = upload
        if len(by_index) + len(kept) > 10:
            raise DcError.form(
                {"files": field_error("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")}
            )
        described = {str(a.get("id")): a for a in payload.get("attachments") or []}
        result = [a for a in kept if a["id"] in described or "attachments" not in payload]
        for index, upload in sorted(by_index.items()):
            meta = described.get(str(index), {})
            result.append(
                self.attachment(
                    channel_id,
                    meta.get("filename") or upload["filename"] or "file",
                    upload["data"] or b"",
                    _declared_type(upload),
                    description=meta.get("description"),
                    duration_secs=meta.get("duration_secs"),
                    waveform=meta.get("waveform"),
                )
            )
        return result

    def _edit_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        stored = self.stored(channel_id, snowflake(request.params["message_id"]))
        payload = body_of(request)
        if stored.message["author"]["id"] != str(self.bot_id) and set(payload) - {"flags"}:
            raise DcError.coded(403, 50005, "Cannot edit a message authored by another user")
        bits = Perm.VIEW_CHANNEL | (Perm.EMBED_LINKS if payload.get("embeds") else 0)
        self.require(channel_id, bits | (Perm.ATTACH_FILES if request.files else 0))
        return self._apply_edit(stored, payload, request.files)

    def _apply_edit(
        self,
        stored: StoredMessage,
        payload: dict[str, Any],
        files: list[dict[str, Any]],
        *,
        clear_loading: bool = False,
    ) -> dict[str, Any]:
        check_message(payload, files=len(files), edit=True)
        if stored.message["flags"] & IS_VOICE_MESSAGE and (
            {"content", "embeds", "attachments"} & set(payload) or files
        ):
            raise DcError.coded(400, 50162, "Voice messages cannot be edited.")
        channel_id = int(stored.message["channel_id"])
        edited = copy.deepcopy(stored.message)
        if "content" in payload:
            edited["content"] = payload["content"] or ""
            edited["mentions"] = self.mentions_in(edited["content"])
        if "embeds" in payload:
            edited["embeds"] = [_stored_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            edited["components"] = payload["components"] or []
        if "flags" in payload and payload["flags"] is not None:
            edited["flags"] = (edited["flags"] & (EPHEMERAL | LOADING)) | int(payload["flags"])
        if "attachments" in payload or files:
            edited["attachments"] = self._uploads(channel_id, payload, files, kept=edited["attachments"])
        if clear_loading:
            edited["flags"] &= ~LOADING
        check_not_empty(edited)
        edited["edited_timestamp"] = None if stored.message["flags"] & LOADING else iso(time.time())
        stored.message = edited
        stored.contents.append(edited["content"])
        self._emit_message("MESSAGE_UPDATE", stored)
        return copy.deepcopy(edited)

    def _delete_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        stored = self.stored(channel_id, snowflake(request.params["message_id"]))
        if stored.message["author"]["id"] != str(self.bot_id):
            self.require(channel_id, Perm.VIEW_CHANNEL | Perm.MANAGE_MESSAGES)
        self._delete(stored)
        return NO_CONTENT

    def _delete(self, stored: StoredMessage) -> None:
        stored.deleted = True
        self._emit_delete(stored)

    # ---- threads -----------------------------------------------------------------------------------

    def _thread_from_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        channel = self.channels[channel_id]
        if channel["type"] not in (0, 5):
            raise DcError.coded(400, 50024, "Cannot execute action on this channel type")
        stored = self.stored(channel_id, snowflake(request.params["message_id"]))
        if "thread" in stored.message:
            raise DcError.coded(400, 160004, "A thread has already been created for this message")
        self.require(channel_id, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY | Perm.CREATE_PUBLIC_THREADS)
        payload = body_of(request)
        # A thread started from a message takes the message's id, as on Discord.
        thread = self._new_thread(
            channel_id, payload, 10 if channel["type"] == 5 else 11, int(stored.message["id"])
        )
        stored.message["thread"] = copy.deepcopy(thread)
        return thread

    def _thread_without_message(self, request: RestRequest) -> Any:
        channel_id = self._channel(request)
        channel = self.channels[channel_id]
        payload = body_of(request)
        if channel["type"] not in (0, 5):
            raise DcError.coded(400, 50024, "Cannot execute action on this channel type")
        kind = payload.get("type")
        if kind not in (10, 11, 12):  # required since API v10
            raise DcError.form(
                {"type": field_error("BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")}
            )
        needed = Perm.CREATE_PRIVATE_THREADS if kind == 12 else Perm.CREATE_PUBLIC_THREADS
        self.require(channel_id, Perm.VIEW_CHANNEL | needed)
        return self._new_thread(channel_id, payload, kind, self.new_id())

    def add_thread(self, parent_id: int, name: str, *, owner_id: int, private: bool = False) -> int:
        """Make ``owner_id`` start a thread (public unless ``private``) in a text channel; return its id."""
        thread = self._new_thread(
            parent_id, {"name": name}, 12 if private else 11, self.new_id(), owner_id=owner_id
        )
        return int(thread["id"])

    def _new_thread(
        self,
        parent_id: int,
        payload: dict[str, Any],
        kind: int,
        thread_id: int,
        *,
        owner_id: int | None = None,
    ) -> dict[str, Any]:
        name = str(payload.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise DcError.form(
                {"name": field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")}
            )
        now = iso(time.time())
        metadata: dict[str, Any] = {
            "archived": False,
            "auto_archive_duration": payload.get("auto_archive_duration") or 1440,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        }
        if kind == 12:
            metadata["invitable"] = payload.get("invitable", True)
        thread = {
            "id": str(thread_id),
            "guild_id": self.channels[parent_id]["guild_id"],
            "parent_id": str(parent_id),
            "owner_id": str(owner_id or self.bot_id),
            "type": kind,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": payload.get("rate_limit_per_user") or 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": metadata,
            "member": {"id": str(thread_id), "user_id": str(self.bot_id), "join_timestamp": now, "flags": 0},
        }
        self.channels[thread_id] = thread
        self._emit(
            "THREAD_CREATE",
            {**copy.deepcopy(thread), "newly_created": True},
            guild_id=self.guild_of(thread_id),
            intent=Intent.GUILDS,
        )
        return copy.deepcopy(thread)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts))


def snowflake(value: str) -> int:
    """Return a path or body id as an int, or raise Discord's 50035 for a non-number."""
    try:
        return int(value)
    except ValueError:
        raise DcError.form(
            {"id": field_error("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')}
        ) from None


def body_of(request: RestRequest) -> dict[str, Any]:
    """Return the request's JSON object ({} without a body), or raise 50035 for a JSON non-object."""
    if request.json is None:
        return {}
    if not isinstance(request.json, dict):
        raise DcError.form(
            {"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used."}]}
        )
    return request.json


def _declared_type(upload: dict[str, Any]) -> str | None:
    # discord.py labels every upload application/octet-stream; Discord then goes by the file name.
    declared = upload.get("content_type")
    return None if declared in (None, "application/octet-stream") else declared


def _stored_embed(embed: dict[str, Any]) -> dict[str, Any]:
    stored = {key: value for key, value in embed.items() if value is not None}
    stored.setdefault("type", "rich")
    return stored
