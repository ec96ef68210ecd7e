"""Discord's world for the fake: users, guilds, roles, channels, messages and interactions, and what users see."""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_api import (
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    DEFAULT_EVERYONE_PERMISSIONS,
    DM_PERMISSIONS,
    DcError,
    Perm,
    iso,
)

__all__ = ["IS_VOICE_MESSAGE", "SEND_DENIED", "DcInteraction", "DiscordState", "StoredMessage"]

DISCORD_EPOCH_MS = 1420070400000
# What deny() takes away by default: everything that lets the bot post in the channel and its threads.
SEND_DENIED = Perm.SEND_MESSAGES | Perm.SEND_MESSAGES_IN_THREADS | Perm.EMBED_LINKS | Perm.ATTACH_FILES
LOADING = 1 << 7  # message flag of a deferred interaction response still "thinking"
EPHEMERAL = 1 << 6
IS_VOICE_MESSAGE = 1 << 13  # message flag: a voice message (one Ogg/Opus file with duration and waveform)
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
THREAD_TYPES = (10, 11, 12)
DM_TYPES = (1, 3)


@dataclass
class StoredMessage:
    """A message as Discord keeps it."""

    message: dict[str, Any]  # the current REST shape (the gateway adds guild_id and member)
    contents: list[str]  # the content after the send and after each edit
    guild_id: int | None
    deleted: bool = False


@dataclass
class DcInteraction:
    """One interaction the fake dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int  # 2 application command (slash or context menu), 3 component, 4 autocomplete, 5 modal submit
    channel_id: int
    guild_id: int | None
    user_id: int
    payload: dict[str, Any]  # the INTERACTION_CREATE data as dispatched
    created: float  # time.monotonic() when dispatched
    callbacks: list[tuple[int, float]] = field(
        default_factory=list
    )  # (callback type, seconds after creation)
    original_id: int | None = None  # the message of the original response, once there is one
    followup_ids: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None  # what an autocomplete (type 8) callback offered
    modal: dict[str, Any] | None = None  # what a modal (type 9) callback opened
    _store: dict[int, StoredMessage] = field(default_factory=dict, repr=False)

    @property
    def acknowledged_after(self) -> float | None:
        """Return the seconds from dispatch to the first callback (Discord allows 3), or None if unanswered."""
        return self.callbacks[0][1] if self.callbacks else None

    @property
    def original(self) -> dict[str, Any] | None:
        """Return the original response message as it is now (None if none or deleted)."""
        stored = self._store.get(self.original_id) if self.original_id is not None else None
        return None if stored is None or stored.deleted else copy.deepcopy(stored.message)

    @property
    def followups(self) -> list[dict[str, Any]]:
        """Return the followup messages as they are now, deleted ones left out."""
        found = (self._store.get(mid) for mid in self.followup_ids)
        return [copy.deepcopy(s.message) for s in found if s is not None and not s.deleted]

    @property
    def deferred(self) -> bool:
        """Return True while the original response is a "thinking" placeholder (type 5, not answered yet)."""
        original = self.original
        return original is not None and bool(original.get("flags", 0) & LOADING)


class DiscordState:
    """Discord's state, and what a test does to it: build guilds and users, read what users see."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        """Create a Discord with one bot application and nothing else."""
        self.token = token
        self._last_id = 0
        # One id for both, as for every application Discord has made since 2016: its bot user shares its id.
        self.application_id = self.new_id()
        self.bot_id = self.application_id
        self.bot_user: dict[str, Any] = {
            "id": str(self.bot_id),
            "username": bot_name,
            "discriminator": "0",
            "global_name": bot_name.replace("-", " ").title(),
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "bot": True,
            "system": False,
            "flags": 0,
            "public_flags": 0,
            "mfa_enabled": True,
            "verified": True,
            "locale": "en-US",
            "email": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        # Plain state: tests read and change it freely.
        self.users: dict[int, dict[str, Any]] = {self.bot_id: self.bot_user}
        self.guilds: dict[int, dict[str, Any]] = {}  # guild id -> Guild object without members and channels
        self.members: dict[int, dict[int, dict[str, Any]]] = {}  # guild id -> user id -> Member (no "user")
        self.channels: dict[int, dict[str, Any]] = {}  # channel id -> Channel (guild channels, threads, DMs)
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.closed_dms: set[int] = set()  # users who accept no DMs from the bot: sending answers 50007
        self.commands: dict[
            int | None, list[dict[str, Any]]
        ] = {}  # guild id (None: global) -> synced commands
        self.command_puts = 0
        self.interactions: dict[int, DcInteraction] = {}
        self.files: dict[
            int, tuple[bytes, str]
        ] = {}  # attachment id -> (content, content type), on the fake CDN
        self.downloads: list[int] = []  # attachment ids fetched from the fake CDN, in order
        # Per-file upload limit: in INTERACTION_CREATE's attachment_size_limit, and what uploads may weigh
        # (413 above it). Lower it to test big files without making megabytes.
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT
        self.refuse_voice_messages = (
            False  # True: voice messages are answered 400 50173, as where Discord refuses
        )
        self._store: dict[int, StoredMessage] = {}
        self._by_channel: dict[int, list[int]] = {}
        self._origin = "http://127.0.0.1:0"  # set by the server once it has a port

    # ---- ids and time ----------------------------------------------------------------------------

    def new_id(self) -> int:
        """Return a fresh snowflake: its timestamp is now, and every id is bigger than the last."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    # ---- test API: building the world ------------------------------------------------------------

    def add_user(self, name: str, *, bot: bool = False) -> int:
        """Create a user called ``name``; return its id."""
        user_id = self.new_id()
        self.users[user_id] = {
            "id": str(user_id),
            "username": name.lower(),
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "bot": bot,
            "system": False,
            "public_flags": 0,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        return user_id

    def add_guild(
        self, name: str, *, owner_id: int | None = None, shard: tuple[int, int] | None = None
    ) -> int:
        """Create a guild the bot is in, with an @everyone role of sane defaults; return its id.

        The owner (a new user unless ``owner_id``) has every permission, as on Discord. With
        ``shard=(shard_id, shard_count)`` the guild's id puts it on that shard (Discord's rule:
        ``(guild_id >> 22) % shard_count``).
        """
        guild_id = self.new_id()
        if shard is not None:
            shard_id, count = shard
            guild_id += ((shard_id - (guild_id >> 22)) % count) << 22  # a few ms later: still a fresh id
            self._last_id = guild_id
        if owner_id is None:
            owner_id = self.add_user(f"{name} owner")
        self.guilds[guild_id] = {
            "id": str(guild_id),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "owner_id": str(owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "features": [],
            "emojis": [],
            "stickers": [],
            "description": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "application_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "premium_progress_bar_enabled": False,
            "roles": [self._role(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0)],
            "joined_at": iso(time.time()),
        }
        self.members[guild_id] = {}
        self._join(guild_id, self.bot_id)
        self._join(guild_id, owner_id)
        self._guild_added(guild_id)
        return guild_id

    def add_channel(self, guild_id: int, name: str, *, type: int = 0, nsfw: bool = False) -> int:
        """Create a channel (text unless ``type``; age-restricted with ``nsfw``) in ``guild_id``; return its id."""
        channel_id = self.new_id()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": nsfw,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }
        if type in (2, 13):  # voice and stage: discord.py needs these
            self.channels[channel_id].update(
                {"bitrate": 64000, "user_limit": 0, "rtc_region": None, "video_quality_mode": 1}
            )
        elif type in (15, 16):  # forum and media
            self.channels[channel_id].update(
                {
                    "available_tags": [],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        self._channel_added(channel_id)
        return channel_id

    def add_member(self, guild_id: int, user_id: int, *, permissions: int | None = None) -> None:
        """Put ``user_id`` in ``guild_id``; with ``permissions``, give the member a role that grants them."""
        member = self._join(guild_id, user_id)
        if permissions is not None:
            guild = self.guilds[guild_id]
            role = self._role(
                self.new_id(),
                f"role of {self.users[user_id]['global_name']}",
                permissions,
                position=len(guild["roles"]),
            )
            guild["roles"].append(role)
            member["roles"].append(role["id"])
        self._member_added(guild_id, user_id)

    def add_dm(self, user_id: int) -> int:
        """Return the DM channel between the bot and ``user_id``, creating it if needed."""
        if user_id not in self.dm_channels:
            channel_id = self.new_id()
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [copy.deepcopy(self.users[user_id])],
            }
            self.dm_channels[user_id] = channel_id
        return self.dm_channels[user_id]

    def deny(self, channel_id: int, permission_bits: int = SEND_DENIED) -> None:
        """Add a member overwrite denying the bot ``permission_bits`` in ``channel_id`` (and its threads)."""
        self._overwrite(channel_id, allow=0, deny=permission_bits)

    def allow(self, channel_id: int, permission_bits: int) -> None:
        """Add a member overwrite granting the bot ``permission_bits`` in ``channel_id`` (and its threads),
        e.g. ``Perm.MANAGE_WEBHOOKS``, which @everyone does not have."""
        self._overwrite(channel_id, allow=permission_bits, deny=0)

    def _overwrite(self, channel_id: int, *, allow: int, deny: int) -> None:
        """Move bits into the bot's member overwrite in a channel: ``allow`` granted, ``deny`` refused."""
        channel = self.channels[channel_id]
        overwrites = channel.setdefault("permission_overwrites", [])
        mine = next((o for o in overwrites if o["type"] == 1 and o["id"] == str(self.bot_id)), None)
        if mine is None:
            mine = {"id": str(self.bot_id), "type": 1, "allow": "0", "deny": "0"}
            overwrites.append(mine)
        mine["allow"] = str((int(mine["allow"]) | allow) & ~deny)
        mine["deny"] = str((int(mine["deny"]) | deny) & ~allow)
        self._channel_changed(channel_id)

    # Hooks for the gateway: a world change after READY becomes an event.
    def _guild_added(self, guild_id: int) -> None:
        pass

    def _channel_added(self, channel_id: int) -> None:
        pass

    def _channel_changed(self, channel_id: int) -> None:
        pass

    def _member_added(self, guild_id: int, user_id: int) -> None:
        pass

    def _role(self, role_id: int, name: str, permissions: int, *, position: int) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def _join(self, guild_id: int, user_id: int) -> dict[str, Any]:
        members = self.members[guild_id]
        if user_id not in members:
            members[user_id] = {
                "roles": [],
                "nick": None,
                "avatar": None,
                "banner": None,
                "joined_at": iso(time.time()),
                "premium_since": None,
                "deaf": False,
                "mute": False,
                "pending": False,
                "flags": 0,
                "communication_disabled_until": None,
            }
        return members[user_id]

    # ---- permissions -----------------------------------------------------------------------------

    def guild_of(self, channel_id: int) -> int | None:
        """Return the guild of a channel or thread, None for a DM."""
        guild_id = self.channels[channel_id].get("guild_id")
        return int(guild_id) if guild_id else None

    def base_permissions(self, guild_id: int, user_id: int) -> int:
        """Return a member's guild-wide permissions: @everyone and their roles; all of them for the owner."""
        guild = self.guilds[guild_id]
        if int(guild["owner_id"]) == user_id:
            return ALL_PERMISSIONS
        roles = {role["id"]: int(role["permissions"]) for role in guild["roles"]}
        perms = roles[str(guild_id)]
        for role_id in self.members[guild_id].get(user_id, {}).get("roles", []):
            perms |= roles.get(role_id, 0)
        return ALL_PERMISSIONS if perms & Perm.ADMINISTRATOR else perms

    def permissions(self, channel_id: int, user_id: int) -> int:
        """Return ``user_id``'s permissions in a channel, with overwrites applied as Discord does."""
        channel = self.channels[channel_id]
        if channel["type"] in DM_TYPES:
            return DM_PERMISSIONS
        guild_id = int(channel["guild_id"])
        perms = self.base_permissions(guild_id, user_id)
        if perms == ALL_PERMISSIONS:
            return perms
        source = self.channels[int(channel["parent_id"])] if channel["type"] in THREAD_TYPES else channel
        overwrites = {(o["type"], o["id"]): o for o in source.get("permission_overwrites", [])}
        everyone = overwrites.get((0, str(guild_id)))
        if everyone:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role_id in self.members[guild_id].get(user_id, {}).get("roles", []):
            role_overwrite = overwrites.get((0, role_id))
            if role_overwrite:
                allow, deny = allow | int(role_overwrite["allow"]), deny | int(role_overwrite["deny"])
        perms = (perms & ~deny) | allow
        member_overwrite = overwrites.get((1, str(user_id)))
        if member_overwrite:
            perms = (perms & ~int(member_overwrite["deny"])) | int(member_overwrite["allow"])
        return perms if perms & Perm.VIEW_CHANNEL else 0

    def require(self, channel_id: int, bits: int) -> None:
        """Raise what Discord answers when the bot lacks ``bits`` in ``channel_id``: 50001 if it cannot see it."""
        perms = self.permissions(channel_id, self.bot_id)
        if not perms & Perm.VIEW_CHANNEL:
            raise DcError.coded(403, 50001, "Missing Access")
        if perms & bits != bits:
            raise DcError.coded(403, 50013, "Missing Permissions")

    # ---- object shapes ---------------------------------------------------------------------------

    def user_payload(self, user_id: int) -> dict[str, Any]:
        """Return the User object, as in messages and members (no private fields for the bot)."""
        user = copy.deepcopy(self.users[user_id])
        for private in ("mfa_enabled", "verified", "locale", "email", "flags"):
            user.pop(private, None)
        return user

    def member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        """Return the Member object (with "flags": discord.py needs it)."""
        member = copy.deepcopy(self.members[guild_id][user_id])
        if with_user:
            member["user"] = self.user_payload(user_id)
        return member

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        """Return the Channel object."""
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DcError.unknown("Channel")
        return copy.deepcopy(channel)

    def guild_create_payload(self, guild_id: int, *, all_members: bool) -> dict[str, Any]:
        """Return GUILD_CREATE's data: the guild with channels, threads, roles and members.

        Without the members intent Discord sends only the bot's own member (and those in voice).
        """
        guild = copy.deepcopy(self.guilds[guild_id])
        members = self.members[guild_id]
        shown = members if all_members else [self.bot_id]
        mine = [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)]
        guild.update(
            {
                "unavailable": False,
                "large": False,
                "member_count": len(members),
                "lazy": True,
                "members": [self.member_payload(guild_id, user_id) for user_id in shown],
                "channels": [_without_guild(c) for c in mine if c["type"] not in THREAD_TYPES],
                "threads": [
                    copy.deepcopy(c)
                    for c in mine
                    if c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]
                ],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return guild

    def gateway_message(self, stored: StoredMessage) -> dict[str, Any]:
        """Return the message as MESSAGE_CREATE carries it: with guild_id and the author's member in a guild."""
        message = copy.deepcopy(stored.message)
        if stored.guild_id is not None:
            message["guild_id"] = str(stored.guild_id)
            members = self.members.get(stored.guild_id, {})
            author_id = int(message["author"]["id"])
            if author_id in members and "webhook_id" not in message:
                message["member"] = self.member_payload(stored.guild_id, author_id, with_user=False)
            for mention in message["mentions"]:
                if int(mention["id"]) in members:
                    mention["member"] = self.member_payload(
                        stored.guild_id, int(mention["id"]), with_user=False
                    )
        return message

    # ---- messages --------------------------------------------------------------------------------

    def create_message(
        self, channel_id: int, author_id: int, content: str = "", **fields: Any
    ) -> StoredMessage:
        """Store a new message in ``channel_id``; ``fields`` override the Message object's defaults."""
        message_id = fields.pop("id", None) or self.new_id()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.user_payload(author_id),
            "content": content,
            "timestamp": iso(time.time()),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": self.mentions_in(content),
            "mention_roles": _ROLE_MENTION.findall(content),
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        message.update(fields)
        stored = StoredMessage(message, [content], self.guild_of(channel_id))
        self._store[message_id] = stored
        self._by_channel.setdefault(channel_id, []).append(message_id)
        channel = self.channels[channel_id]
        channel["last_message_id"] = str(message_id)
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        return stored

    def mentions_in(self, content: str) -> list[dict[str, Any]]:
        """Return the users mentioned as ``<@id>`` in ``content``, once each."""
        ids = dict.fromkeys(int(found) for found in _USER_MENTION.findall(content))
        return [self.user_payload(user_id) for user_id in ids if user_id in self.users]

    def stored(self, channel_id: int, message_id: int) -> StoredMessage:
        """Return a message of ``channel_id`` that is not deleted, or raise Unknown Message."""
        stored = self._store.get(message_id)
        if stored is None or stored.deleted or stored.message["channel_id"] != str(channel_id):
            raise DcError.unknown("Message")
        return stored

    def attachment(
        self, channel_id: int, filename: str, data: bytes, content_type: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Store ``data`` on the fake CDN and return its Attachment object."""
        attachment_id = self.new_id()
        content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self.files[attachment_id] = (data, content_type)
        url = f"{self._origin}/attachments/{channel_id}/{attachment_id}/{filename}"
        attachment = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        attachment.update({key: value for key, value in extra.items() if value is not None})
        return attachment

    # ---- test API: what users see ----------------------------------------------------------------

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Return the messages in ``channel_id`` as they are now, oldest first, deleted ones left out.

        Interaction responses and followups are included; ephemeral ones too (flags & 64), as their user sees them.
        A deferred response shows as an empty message with flags & 128 ("thinking") until it is answered.
        """
        found = (self._store[mid] for mid in self._by_channel.get(channel_id, []))
        return [copy.deepcopy(stored.message) for stored in found if not stored.deleted]

    def edits_of(self, channel_id: int, message_id: int) -> list[str]:
        """Return the content of a message after its send and after each edit (deleted or not)."""
        stored = self._store.get(message_id)
        if stored is None or stored.message["channel_id"] != str(channel_id):
            raise AssertionError(f"no message {message_id} in channel {channel_id}")
        return list(stored.contents)

    def attachment_data(self, attachment: dict[str, Any]) -> bytes:
        """Return the bytes of an Attachment object (from ``messages()``), as the CDN serves them."""
        return self.files[int(attachment["id"])][0]

    def interaction(self, interaction_id: int) -> DcInteraction:
        """Return the record of an interaction dispatched with send_slash, send_autocomplete or send_component."""
        return self.interactions[interaction_id]

    def synced_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Return the commands the bot registered globally (or in ``guild_id``), as Discord stores them."""
        return copy.deepcopy(self.commands.get(guild_id, []))


def _without_guild(channel: dict[str, Any]) -> dict[str, Any]:
    # GUILD_CREATE's channels carry no guild_id: the guild is implied.
    channel = copy.deepcopy(channel)
    channel.pop("guild_id", None)
    return channel
