"""Channel webhooks of the fake Discord: list and create them, post and edit messages through them.

A webhook posts under any name and avatar it is given (``username``, ``avatar_url``). Its messages carry
``webhook_id`` and an author that is the webhook (``bot: true``), and ``application_id`` when the webhook
belongs to an application (made by the bot). As on Discord:
  - listing or creating needs Manage Webhooks (403 50013), in a text, voice, stage or forum channel (not a
    thread: 50024); at most ``max_webhooks`` (15) a channel (30007); names may not contain "clyde" or
    "discord" (50035), nor may a ``username`` given to a message;
  - ``components`` count only with ``?with_components=true``, and then interactive ones (buttons with a
    custom_id, selects) only on a webhook that belongs to an application; others are left out silently;
  - a message goes to a thread of the webhook's channel with ``?thread_id=`` (a thread elsewhere: 10003), and
    a message in a thread is found for an edit only with the same ``thread_id`` (10008 otherwise);
  - a wrong token answers 401 50027, an unknown or deleted webhook 404 10015.
The interaction webhook (``/webhooks/{application_id}/{token}``) shares these paths: requests with the
application's id go on to the interaction routes.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from typing import Any

from tests.fakes.discord_api import DcError, Intent, Perm, check_message, field_error
from tests.fakes.discord_interactions import DiscordInteractionRoutes
from tests.fakes.discord_rest import NO_CONTENT, RestRequest, body_of, snowflake
from tests.fakes.discord_state import THREAD_TYPES, StoredMessage

__all__ = ["DiscordWebhookRoutes"]

WEBHOOK_CHANNEL_TYPES = (0, 2, 5, 13, 15, 16)  # text, voice, announcement, stage, forum, media
FORUM_TYPES = (15, 16)
MAX_WEBHOOKS = 15
_FORBIDDEN_NAMES = ("clyde", "discord")
_WEBHOOK_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)  # suppress embeds, suppress notifications, components v2
_LINK_BUTTON = 5


class DiscordWebhookRoutes(DiscordInteractionRoutes):
    """Channel webhooks: ``/channels/{id}/webhooks``, ``/webhooks/{id}[/{token}]`` and their messages."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        """Create the fake and serve the webhook routes before the interaction webhook's (they share paths)."""
        super().__init__(token=token, bot_name=bot_name)
        self.webhooks: dict[int, dict[str, Any]] = {}  # webhook id -> Webhook object (with its token)
        self.max_webhooks = MAX_WEBHOOKS  # per channel; creating one more answers 30007
        self.avatar_urls: dict[
            int, str
        ] = {}  # message id -> the avatar_url its webhook message was posted with
        self.add_routes(
            [
                ("GET", "/channels/{channel_id}/webhooks", self._channel_webhooks),
                ("POST", "/channels/{channel_id}/webhooks", self._create_webhook),
                ("GET", "/webhooks/{webhook_id}", self._get_webhook),
                ("DELETE", "/webhooks/{webhook_id}", self._delete_webhook),
                ("POST", "/webhooks/{webhook_id}/{token}", self._execute),
                ("GET", "/webhooks/{webhook_id}/{token}", self._get_webhook_with_token),
                ("DELETE", "/webhooks/{webhook_id}/{token}", self._delete_webhook_with_token),
                ("GET", "/webhooks/{webhook_id}/{token}/messages/{message_id}", self._get_webhook_message),
                ("PATCH", "/webhooks/{webhook_id}/{token}/messages/{message_id}", self._edit_webhook_message),
                (
                    "DELETE",
                    "/webhooks/{webhook_id}/{token}/messages/{message_id}",
                    self._delete_webhook_message,
                ),
            ],
            first=True,
        )

    # ---- test API ----------------------------------------------------------------------------------

    def add_webhook(self, channel_id: int, name: str, *, by: int | None = None) -> dict[str, Any]:
        """Make a webhook in ``channel_id`` as a server admin would (``by``: a user; no application); return it."""
        creator = by if by is not None else self.app_owner_id
        return copy.deepcopy(self._new_webhook(channel_id, name, creator, application=False))

    def webhooks_of(self, channel_id: int) -> list[dict[str, Any]]:
        """Return the webhooks of ``channel_id`` (with their tokens), oldest first."""
        return [copy.deepcopy(w) for w in self.webhooks.values() if w["channel_id"] == str(channel_id)]

    def remove_webhook(self, webhook_id: int) -> None:
        """Delete a webhook as a server admin would: its messages stay, posting through it answers 10015."""
        webhook = self.webhooks.pop(webhook_id)
        self._webhooks_changed(int(webhook["channel_id"]))

    def avatar_url_of(self, message: dict[str, Any]) -> str | None:
        """Return the ``avatar_url`` a webhook message was posted with (None: the webhook's own avatar)."""
        return self.avatar_urls.get(int(message["id"]))

    # ---- managing webhooks -------------------------------------------------------------------------

    def _webhook_channel(self, request: RestRequest) -> int:
        channel_id = snowflake(request.params["channel_id"])
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DcError.unknown("Channel")
        if channel["type"] not in WEBHOOK_CHANNEL_TYPES:  # threads and DMs have none: their parent's serve
            raise DcError.coded(400, 50024, "Cannot execute action on this channel type")
        self.require(channel_id, Perm.VIEW_CHANNEL | Perm.MANAGE_WEBHOOKS)
        return channel_id

    def _channel_webhooks(self, request: RestRequest) -> Any:
        channel_id = self._webhook_channel(request)
        return [
            self._webhook_payload(w) for w in self.webhooks.values() if w["channel_id"] == str(channel_id)
        ]

    def _create_webhook(self, request: RestRequest) -> Any:
        channel_id = self._webhook_channel(request)
        payload = body_of(request)
        name = payload.get("name")
        problem = _name_problem(name)
        if problem:
            raise DcError.form(
                {
                    "name": field_error(
                        "BASE_TYPE_BAD_LENGTH" if "length" in problem else "WEBHOOK_INVALID_NAME", problem
                    )
                }
            )
        if sum(w["channel_id"] == str(channel_id) for w in self.webhooks.values()) >= self.max_webhooks:
            raise DcError.coded(400, 30007, f"Maximum number of webhooks reached ({self.max_webhooks})")
        webhook = self._new_webhook(channel_id, str(name), self.bot_id, application=True)
        return self._webhook_payload(webhook)

    def _new_webhook(self, channel_id: int, name: str, creator: int, *, application: bool) -> dict[str, Any]:
        webhook_id = self.new_id()
        token = secrets.token_urlsafe(48)
        webhook = {
            "id": str(webhook_id),
            "type": 1,
            "guild_id": self.channels[channel_id].get("guild_id"),
            "channel_id": str(channel_id),
            "user": self.user_payload(creator),
            "name": name,
            "avatar": None,
            "token": token,
            "application_id": str(self.application_id) if application else None,
            "url": f"{self._origin}/api/webhooks/{webhook_id}/{token}",
        }
        self.webhooks[webhook_id] = webhook
        self._webhooks_changed(channel_id)
        return webhook

    def _webhook_payload(self, webhook: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(webhook)
        if shown["application_id"] not in (None, str(self.application_id)):
            shown.pop("token"), shown.pop("url")  # another application's token is kept from us
        return shown

    def _webhooks_changed(self, channel_id: int) -> None:
        guild_id = self.guild_of(channel_id)
        self._emit(
            "WEBHOOKS_UPDATE",
            {"guild_id": str(guild_id), "channel_id": str(channel_id)},
            guild_id=guild_id,
            intent=Intent.GUILD_WEBHOOKS,
        )

    def _known_webhook(self, request: RestRequest, *, with_token: bool) -> dict[str, Any]:
        webhook = self.webhooks.get(snowflake(request.params["webhook_id"]))
        if webhook is None:
            raise DcError.unknown("Webhook")
        if with_token and request.params["token"] != webhook["token"]:
            raise DcError.coded(401, 50027, "Invalid Webhook Token")
        return webhook

    def _get_webhook(self, request: RestRequest) -> Any:
        webhook = self._known_webhook(request, with_token=False)
        self.require(int(webhook["channel_id"]), Perm.VIEW_CHANNEL | Perm.MANAGE_WEBHOOKS)
        return self._webhook_payload(webhook)

    def _get_webhook_with_token(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            raise DcError.coded(405, 0, "405: Method Not Allowed")
        shown = self._webhook_payload(self._known_webhook(request, with_token=True))
        shown.pop("user", None)  # not shown to whoever has only the token
        return shown

    def _delete_webhook(self, request: RestRequest) -> Any:
        webhook = self._known_webhook(request, with_token=False)
        self.require(int(webhook["channel_id"]), Perm.VIEW_CHANNEL | Perm.MANAGE_WEBHOOKS)
        self.remove_webhook(int(webhook["id"]))
        return NO_CONTENT

    def _delete_webhook_with_token(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            raise DcError.coded(405, 0, "405: Method Not Allowed")
        self.remove_webhook(int(self._known_webhook(request, with_token=True)["id"]))
        return NO_CONTENT

    # ---- messages through a webhook ----------------------------------------------------------------

    def _is_interaction(self, request: RestRequest) -> bool:
        return snowflake(request.params["webhook_id"]) == self.application_id

    def _execute(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            return self._followup(_as_interaction(request))
        webhook = self._known_webhook(request, with_token=True)
        payload = body_of(request)
        check_message(payload, files=len(request.files))
        username = payload.get("username")
        if username is not None:
            problem = _name_problem(username)
            if problem:
                raise DcError.form({"username": field_error("WEBHOOK_INVALID_USERNAME", problem)})
        channel_id = self._webhook_target(webhook, request.query.get("thread_id"), creating=True)
        fields = self._new_message_fields(
            channel_id, {k: v for k, v in payload.items() if k != "message_reference"}, request.files
        )
        fields["components"] = self._allowed_components(webhook, payload.get("components"), request.query)
        fields["flags"] = int(payload.get("flags") or 0) & _WEBHOOK_FLAGS
        fields["webhook_id"] = webhook["id"]
        if webhook["application_id"]:
            fields["application_id"] = webhook["application_id"]
        check_not_empty_after(fields, payload)
        stored = self.create_message(channel_id, self.bot_id, payload.get("content") or "", **fields)
        stored.message["author"] = _webhook_author(webhook, username, payload.get("avatar_url"))
        if payload.get("avatar_url"):
            self.avatar_urls[int(stored.message["id"])] = str(payload["avatar_url"])
        self._emit_message("MESSAGE_CREATE", stored)
        wait = request.query.get("wait", "").lower() in ("1", "true")
        return copy.deepcopy(stored.message) if wait else NO_CONTENT

    def _webhook_target(self, webhook: dict[str, Any], thread_id: str | None, *, creating: bool) -> int:
        """Return the channel a webhook request is about: the webhook's channel, or a thread of it."""
        channel_id = int(webhook["channel_id"])
        if thread_id is None:
            if creating and self.channels[channel_id]["type"] in FORUM_TYPES:
                raise DcError.coded(
                    400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id"
                )
            return channel_id
        thread = self.channels.get(snowflake(thread_id))
        if thread is None or thread["type"] not in THREAD_TYPES or thread.get("parent_id") != str(channel_id):
            raise DcError.unknown("Channel")
        if creating and thread["thread_metadata"]["archived"]:
            thread["thread_metadata"]["archived"] = False  # Discord unarchives a thread a webhook posts in
            self._channel_changed(int(thread["id"]))
        return int(thread["id"])

    def _allowed_components(
        self, webhook: dict[str, Any], components: Any, query: dict[str, str]
    ) -> list[Any]:
        if not components or query.get("with_components", "").lower() not in ("1", "true"):
            return []
        if webhook["application_id"]:
            return list(components)
        kept = []  # a webhook no application owns may show links, nothing to press
        for row in components:
            inner = [
                c for c in row.get("components") or [] if c.get("style") == _LINK_BUTTON and c.get("url")
            ]
            if inner:
                kept.append({**row, "components": inner})
        return kept

    def _webhook_message(self, request: RestRequest) -> tuple[dict[str, Any], StoredMessage]:
        webhook = self._known_webhook(request, with_token=True)
        channel_id = self._webhook_target(webhook, request.query.get("thread_id"), creating=False)
        stored = self._store.get(snowflake(request.params["message_id"]))
        if (
            stored is None
            or stored.deleted
            or stored.message.get("webhook_id") != webhook["id"]
            or stored.message["channel_id"] != str(channel_id)
        ):
            raise DcError.unknown("Message")
        return webhook, stored

    def _get_webhook_message(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            return self._get_response(_as_interaction(request))
        return copy.deepcopy(self._webhook_message(request)[1].message)

    def _edit_webhook_message(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            return self._edit_response(_as_interaction(request))
        webhook, stored = self._webhook_message(request)
        payload = dict(body_of(request))
        if "components" in payload:
            payload["components"] = (
                self._allowed_components(webhook, payload["components"], request.query)
                if request.query.get("with_components", "").lower() in ("1", "true")
                else stored.message["components"]
            )
        (
            payload.pop("username", None),
            payload.pop("avatar_url", None),
        )  # a message keeps the name it was sent with
        return self._apply_edit(stored, payload, request.files)

    def _delete_webhook_message(self, request: RestRequest) -> Any:
        if self._is_interaction(request):
            return self._delete_response(_as_interaction(request))
        self._delete(self._webhook_message(request)[1])
        return NO_CONTENT


def _as_interaction(request: RestRequest) -> RestRequest:
    """The same request, with the path parameters the interaction routes read."""
    params = dict(request.params)
    params["app_id"] = params.pop("webhook_id")
    if params.get("message_id") == "@original":
        del params["message_id"]
    return RestRequest(
        request.method, request.path, params, request.query, request.json, request.files, request.arrived
    )


def _name_problem(name: Any) -> str | None:
    """Why Discord refuses a webhook name or username, or None."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 80:
        return "Must be between 1 and 80 in length."
    lowered = name.lower()
    for word in _FORBIDDEN_NAMES:
        if word in lowered:
            return f'Username cannot contain "{word}"'
    return None


def _webhook_author(webhook: dict[str, Any], username: str | None, avatar_url: str | None) -> dict[str, Any]:
    """The author of a webhook message: the webhook itself, under the name and face it was given."""
    avatar = hashlib.md5(avatar_url.encode()).hexdigest() if avatar_url else webhook["avatar"]
    return {
        "id": webhook["id"],
        "username": username or webhook["name"],
        "avatar": avatar,
        "discriminator": "0000",
        "global_name": None,
        "bot": True,
        "public_flags": 0,
    }


def check_not_empty_after(fields: dict[str, Any], payload: dict[str, Any]) -> None:
    """Raise 50006 when only components were sent and they were left out (Discord checks what is kept)."""
    if (payload.get("content") or "").strip() or fields.get("embeds") or fields.get("attachments"):
        return
    if not fields.get("components"):
        raise DcError.coded(400, 50006, "Cannot send an empty message")
