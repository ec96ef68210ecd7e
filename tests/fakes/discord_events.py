"""What users do, for the fake Discord: write messages, run slash commands, autocomplete, click buttons."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.discord_api import DcError, Intent
from tests.fakes.discord_gateway import DiscordGateway
from tests.fakes.discord_state import (
    EPHEMERAL,
    IS_VOICE_MESSAGE,
    THREAD_TYPES,
    DcInteraction,
    StoredMessage,
)

__all__ = ["DiscordEvents", "Upload"]

# (filename, content[, content type[, extra Attachment fields]]): the extras override what the fake derives,
# e.g. {"size": 30_000_000} to claim a big file without making one, or {"duration_secs": 3.5}.
Upload = tuple[str, bytes] | tuple[str, bytes, str] | tuple[str, bytes, str | None, Mapping[str, Any]]
_CHAT_INPUT, _USER_COMMAND, _MESSAGE_COMMAND = 1, 2, 3
_SUBCOMMAND, _GROUP = 1, 2
_STRING, _INTEGER, _BOOLEAN, _USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER, _ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)


class DiscordEvents(DiscordGateway):
    """The test API that makes users act; each action is stored and dispatched like Discord would."""

    # ---- messages ----------------------------------------------------------------------------------

    def send_message(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        *,
        mentions_bot: bool = False,
        reply_to: int | None = None,
        attachments: Sequence[Upload] = (),
        flags: int = 0,
    ) -> dict[str, Any]:
        """Make ``author_id`` write ``content`` in a channel, thread or DM; dispatch MESSAGE_CREATE; return it.

        ``mentions`` lists the bot when ``mentions_bot`` (a reply that pings) or when content has ``<@bot_id>``.
        ``reply_to`` makes it a reply (type 19, message_reference and referenced_message). ``attachments`` are
        uploaded to the fake CDN, where ``Attachment.read()`` fetches them (``downloads`` records each fetch).
        """
        self._require_session()
        channel = self._known_channel(channel_id)
        guild_id = self.guild_of(channel_id)
        if guild_id is not None and author_id not in self.members[guild_id]:
            raise AssertionError(
                f"user {author_id} is not a member of guild {guild_id}: call add_member first"
            )
        if guild_id is None and all(r["id"] != str(author_id) for r in channel.get("recipients", [])):
            raise AssertionError(f"user {author_id} is not in DM channel {channel_id}")
        fields: dict[str, Any] = {"mentions": self.mentions_in(content)}
        if mentions_bot and all(m["id"] != str(self.bot_id) for m in fields["mentions"]):
            fields["mentions"].append(self.user_payload(self.bot_id))
        if reply_to is not None:
            try:
                fields.update(self._reply_fields(channel_id, reply_to, guild_id))
            except DcError:
                raise AssertionError(f"no message {reply_to} in channel {channel_id} to reply to") from None
        fields["attachments"] = [
            self.attachment(channel_id, *upload[:3], **dict(upload[3] if len(upload) > 3 else {}))
            for upload in attachments
        ]
        fields["flags"] = flags
        stored = self.create_message(channel_id, author_id, content, **fields)
        self._emit_message("MESSAGE_CREATE", stored)
        return self.gateway_message(stored)

    def send_voice_message(
        self,
        channel_id: int,
        author_id: int,
        audio: bytes,
        *,
        duration: float,
        waveform: bytes = bytes(range(0, 256, 4)),
        reply_to: int | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """Make ``author_id`` record a voice message: no text, flags 8192, one ``voice-message.ogg`` with
        ``duration_secs`` and ``waveform``, as Discord's clients send it. ``size`` claims another file size."""
        extra: dict[str, Any] = {"duration_secs": duration, "waveform": base64.b64encode(waveform).decode()}
        if size is not None:
            extra["size"] = size
        return self.send_message(
            channel_id,
            author_id,
            "",
            reply_to=reply_to,
            flags=IS_VOICE_MESSAGE,
            attachments=[("voice-message.ogg", audio, "audio/ogg", extra)],
        )

    def _reply_fields(self, channel_id: int, message_id: int, guild_id: int | None) -> dict[str, Any]:
        referenced = self.stored(channel_id, message_id)
        reference = {"type": 0, "message_id": str(message_id), "channel_id": str(channel_id)}
        if guild_id is not None:
            reference["guild_id"] = str(guild_id)
        resolved = copy.deepcopy(referenced.message)
        resolved.pop("referenced_message", None)  # Discord nests one level only
        return {"type": 19, "message_reference": reference, "referenced_message": resolved}

    def _emit_message(self, event: str, stored: StoredMessage) -> None:
        if stored.message.get("flags", 0) & EPHEMERAL:
            return  # ephemeral messages exist only for their user: no gateway event
        intent = Intent.DIRECT_MESSAGES if stored.guild_id is None else Intent.GUILD_MESSAGES
        self._emit(event, self.gateway_message(stored), guild_id=stored.guild_id, intent=intent)

    def _emit_delete(self, stored: StoredMessage) -> None:
        if stored.message.get("flags", 0) & EPHEMERAL:
            return
        data = {"id": stored.message["id"], "channel_id": stored.message["channel_id"]}
        if stored.guild_id is not None:
            data["guild_id"] = str(stored.guild_id)
        intent = Intent.DIRECT_MESSAGES if stored.guild_id is None else Intent.GUILD_MESSAGES
        self._emit("MESSAGE_DELETE", data, guild_id=stored.guild_id, intent=intent)

    # ---- interactions ------------------------------------------------------------------------------

    def send_slash(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int | None = None,
    ) -> DcInteraction:
        """Make ``user_id`` run the slash command ``name`` ("group sub" for a subcommand); dispatch it; return it.

        The command must have been synced: options are typed from its registered options (users, channels and
        roles by id, attachments as ``(filename, bytes)``), and required ones must be given, as Discord's UI does.
        """
        guild_id = self.guild_of(channel_id) if guild_id is None else guild_id
        data = self._command_data(name, options or {}, channel_id, guild_id, focused=None)
        return self._dispatch_interaction(2, channel_id, user_id, guild_id, data)

    def send_autocomplete(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        focused_option: str,
        value: str,
        *,
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
    ) -> DcInteraction:
        """Make ``user_id`` type ``value`` into option ``focused_option`` of ``name``; dispatch type 4; return it.

        The bot's answer (callback type 8) lands in the record's ``choices``.
        """
        guild_id = self.guild_of(channel_id) if guild_id is None else guild_id
        values = {**(options or {}), focused_option: value}
        data = self._command_data(name, values, channel_id, guild_id, focused=focused_option)
        return self._dispatch_interaction(4, channel_id, user_id, guild_id, data)

    def send_component(
        self,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
    ) -> DcInteraction:
        """Make ``user_id`` click the button ``custom_id`` (or pick ``values`` in a select) on a message.

        The message must show that component, as in Discord's client (a webhook's message may have lost its
        buttons: see discord_webhooks.py).
        """
        stored = self.stored(channel_id, message_id)
        shown = {
            c.get("custom_id")
            for row in stored.message.get("components") or []
            for c in row.get("components") or []
        }
        if custom_id not in shown:
            raise AssertionError(
                f"message {message_id} shows no component {custom_id!r}; it shows {sorted(map(str, shown))}"
            )
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        return self._dispatch_interaction(
            3, channel_id, user_id, self.guild_of(channel_id), data, message=copy.deepcopy(stored.message)
        )

    def send_context_menu(
        self, channel_id: int, user_id: int, name: str, message_id: int, *, guild_id: int | None = None
    ) -> DcInteraction:
        """Make ``user_id`` pick the message command ``name`` (Apps → name) on a message; dispatch it; return it.

        The interaction is type 2 with ``data.type`` 3, ``target_id`` and the message in ``resolved.messages``.
        """
        guild_id = self.guild_of(channel_id) if guild_id is None else guild_id
        target = self.stored(channel_id, message_id)
        command = self._find_command(name, guild_id, kind=_MESSAGE_COMMAND)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": _MESSAGE_COMMAND,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): self.gateway_message(target)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._dispatch_interaction(2, channel_id, user_id, guild_id, data)

    def submit_modal(self, interaction_id: int, values: Mapping[str, str]) -> DcInteraction:
        """Make the user fill in and submit the modal the bot opened (callback type 9) on an interaction.

        ``values`` maps each text input's custom_id to what the user typed; dispatches a type 5 interaction.
        """
        opened = self.interactions[interaction_id]
        if opened.modal is None:
            raise AssertionError(f"interaction {interaction_id} opened no modal")
        components = []
        for row in opened.modal["components"]:
            if row["type"] == 1:  # an action row of text inputs
                inner = [self._modal_value(item, values) for item in row["components"]]
                components.append({"type": 1, "components": inner})
            elif row["type"] == 18:  # a label around one input
                components.append({"type": 18, "component": self._modal_value(row["component"], values)})
        unknown = set(values) - {
            c["custom_id"] for row in components for c in (row.get("components") or [row.get("component")])
        }
        if unknown:
            raise AssertionError(f"the modal has no inputs {sorted(unknown)}")
        data = {"custom_id": opened.modal["custom_id"], "components": components}
        message = opened.payload.get("message")
        return self._dispatch_interaction(
            5,
            opened.channel_id,
            opened.user_id,
            opened.guild_id,
            data,
            message=copy.deepcopy(message) if message else None,
        )

    @staticmethod
    def _modal_value(item: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
        value = values.get(item["custom_id"], "")
        if item.get("required", True) and not value:
            raise AssertionError(f"the modal's input {item['custom_id']!r} is required")
        if item.get("max_length") is not None and len(value) > item["max_length"]:
            raise AssertionError(f"{item['custom_id']!r} takes at most {item['max_length']} characters")
        return {"type": item["type"], "custom_id": item["custom_id"], "value": value}

    def _command_data(
        self,
        name: str,
        values: Mapping[str, Any],
        channel_id: int,
        guild_id: int | None,
        *,
        focused: str | None,
    ) -> dict[str, Any]:
        top, *path = name.split()
        command = self._find_command(top, guild_id)
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        resolved: dict[str, dict[str, Any]] = {}
        built = self._options(
            command.get("options") or [], path, values, channel_id, guild_id, resolved, focused
        )
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return data

    def _find_command(self, name: str, guild_id: int | None, *, kind: int = _CHAT_INPUT) -> dict[str, Any]:
        scopes = ([guild_id] if guild_id is not None else []) + [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == kind:
                    return command
        registered = {
            scope: [(c["name"], c.get("type", 1)) for c in found] for scope, found in self.commands.items()
        }
        what = "slash command /" if kind == _CHAT_INPUT else f"command of type {kind} "
        raise AssertionError(f"no {what}{name} is synced for guild {guild_id}; synced: {registered}")

    def _options(
        self,
        specs: list[dict[str, Any]],
        path: list[str],
        values: Mapping[str, Any],
        channel_id: int,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        if path:
            sub = next(
                (s for s in specs if s["name"] == path[0] and s["type"] in (_SUBCOMMAND, _GROUP)), None
            )
            if sub is None:
                raise AssertionError(f"no subcommand {path[0]!r}; options: {[s['name'] for s in specs]}")
            inner = self._options(
                sub.get("options") or [], path[1:], values, channel_id, guild_id, resolved, focused
            )
            return [{"name": sub["name"], "type": sub["type"], "options": inner}]
        if any(s["type"] in (_SUBCOMMAND, _GROUP) for s in specs):
            raise AssertionError(f"this command needs a subcommand: {[s['name'] for s in specs]}")
        by_name = {s["name"]: s for s in specs}
        built = []
        for key, value in values.items():
            spec = by_name.get(key)
            if spec is None:
                raise AssertionError(f"no option {key!r}; options: {list(by_name)}")
            if key == focused:
                built.append({"name": key, "type": spec["type"], "value": str(value), "focused": True})
            else:
                typed = self._option_value(spec, value, channel_id, guild_id, resolved)
                built.append({"name": key, "type": spec["type"], "value": typed})
        missing = [s["name"] for s in specs if s.get("required") and s["name"] not in values]
        if missing and focused is None:
            raise AssertionError(f"required options missing: {missing}")
        return built

    def _option_value(
        self,
        spec: dict[str, Any],
        value: Any,
        channel_id: int,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        kind = spec["type"]
        if kind == _STRING:
            value = str(value)
        elif kind == _INTEGER:
            value = int(value)
        elif kind == _NUMBER:
            value = float(value)
        elif kind == _BOOLEAN:
            value = bool(value)
        elif kind == _ATTACHMENT:
            upload = (value,) if isinstance(value, bytes) else tuple(value)
            filename, content = (upload if len(upload) >= 2 else ("file.bin", upload[0]))[:2]
            if len(content) > self.attachment_size_limit:
                raise AssertionError("Discord's client refuses an attachment over the size limit")
            attachment = self.attachment(
                channel_id, str(filename), bytes(content), *upload[2:3], ephemeral=True
            )
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return attachment["id"]
        else:
            return self._resolve_snowflake(kind, int(value), guild_id, resolved)
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise AssertionError(f"{value!r} is not one of the choices of {spec['name']!r}: {choices}")
        for bound in ("min_value", "max_value", "min_length", "max_length"):
            limit = spec.get(bound)
            if limit is None:
                continue
            measured = len(value) if bound.endswith("length") else value
            if measured < limit if bound.startswith("min") else measured > limit:
                raise AssertionError(f"{value!r} breaks {bound}={limit} of option {spec['name']!r}")
        return value

    def _resolve_snowflake(
        self, kind: int, item_id: int, guild_id: int | None, resolved: dict[str, dict[str, Any]]
    ) -> str:
        roles = {int(r["id"]): r for r in self.guilds[guild_id]["roles"]} if guild_id is not None else {}
        if kind in (_USER, _MENTIONABLE) and item_id in self.users:
            resolved.setdefault("users", {})[str(item_id)] = self.user_payload(item_id)
            if guild_id is not None and item_id in self.members[guild_id]:
                member = self.member_payload(guild_id, item_id, with_user=False)
                member["permissions"] = str(self.base_permissions(guild_id, item_id))
                resolved.setdefault("members", {})[str(item_id)] = member
        elif kind in (_ROLE, _MENTIONABLE) and item_id in roles:
            resolved.setdefault("roles", {})[str(item_id)] = copy.deepcopy(roles[item_id])
        elif kind == _CHANNEL and item_id in self.channels:
            channel = self.channel_payload(item_id)
            channel["permissions"] = str(self.permissions(item_id, self.bot_id))
            resolved.setdefault("channels", {})[str(item_id)] = channel
        else:
            raise AssertionError(f"nothing with id {item_id} for an option of type {kind}")
        return str(item_id)

    def _dispatch_interaction(
        self,
        kind: int,
        channel_id: int,
        user_id: int,
        guild_id: int | None,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
    ) -> DcInteraction:
        self._require_session()
        self._known_channel(channel_id)
        interaction_id = self.new_id()
        channel = self.channel_payload(channel_id)
        channel["permissions"] = str(self.permissions(channel_id, user_id))
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": f"aW50ZXJhY3Rpb246{interaction_id}:{uuid.uuid4().hex}",
            "version": 1,
            "channel_id": str(channel_id),
            "channel": channel,
            "locale": "en-US",
            "app_permissions": str(self.permissions(channel_id, self.bot_id)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
            "authorizing_integration_owners": {"0": str(guild_id or 0)},
            "context": 0 if guild_id else 1,
        }
        if guild_id is not None:
            if user_id not in self.members[guild_id]:
                raise AssertionError(
                    f"user {user_id} is not a member of guild {guild_id}: call add_member first"
                )
            member = self.member_payload(guild_id, user_id)
            member["permissions"] = str(self.permissions(channel_id, user_id))
            payload.update(
                {
                    "guild_id": str(guild_id),
                    "guild_locale": "en-US",
                    "member": member,
                    "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                }
            )
        else:
            payload["user"] = self.user_payload(user_id)
        if message is not None:
            payload["message"] = message
        record = DcInteraction(
            interaction_id,
            payload["token"],
            kind,
            channel_id,
            guild_id,
            user_id,
            payload,
            time.monotonic(),
            _store=self._store,
        )
        self.interactions[interaction_id] = record
        self._emit("INTERACTION_CREATE", payload, guild_id=guild_id, intent=0)
        return record

    # ---- helpers -----------------------------------------------------------------------------------

    def _require_session(self) -> None:
        if not self._sessions:
            raise AssertionError("no gateway session: start the client and await dc.wait_until_ready() first")

    def _known_channel(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"no channel {channel_id}: add_channel or add_dm first")
        if channel["type"] in THREAD_TYPES and channel["thread_metadata"]["archived"]:
            raise AssertionError(f"thread {channel_id} is archived")
        return channel
