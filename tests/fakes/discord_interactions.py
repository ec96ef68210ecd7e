"""Interaction routes of the fake Discord: callbacks, the original response, followups (the interaction webhook)."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.fakes.discord_api import (
    DcError,
    check_autocomplete_choices,
    check_message,
    field_error,
)
from tests.fakes.discord_rest import (
    NO_CONTENT,
    DiscordRest,
    RestRequest,
    body_of,
    snowflake,
)
from tests.fakes.discord_state import EPHEMERAL, LOADING, DcInteraction, StoredMessage

__all__ = ["DiscordInteractionRoutes"]

_RESPONSE_FLAGS = EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)  # ephemeral, suppress embeds/notifications, v2
# Which callback types each interaction type takes: 2 command, 3 component, 4 autocomplete, 5 modal submit
# (9, a modal, answers a command or a component; a modal submit cannot open another).
_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


class DiscordInteractionRoutes(DiscordRest):
    """How a bot answers interactions: ``/interactions/{id}/{token}/callback`` and ``/webhooks/{app}/{token}``."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        """Create the fake and add the interaction routes (no bot token needed: the interaction token is the key)."""
        super().__init__(token=token, bot_name=bot_name)
        self.interaction_timeout = 3.0  # seconds Discord gives a bot to acknowledge; later answers 10062
        self.add_routes(
            [
                ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
                ("GET", "/webhooks/{app_id}/{token}/messages/@original", self._get_response),
                ("PATCH", "/webhooks/{app_id}/{token}/messages/@original", self._edit_response),
                ("DELETE", "/webhooks/{app_id}/{token}/messages/@original", self._delete_response),
                ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self._get_response),
                ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._edit_response),
                ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._delete_response),
                ("POST", "/webhooks/{app_id}/{token}", self._followup),
            ]
        )

    def _callback(self, request: RestRequest) -> Any:
        record = self.interactions.get(snowflake(request.params["interaction_id"]))
        if record is None or record.token != request.params["token"]:
            raise DcError.unknown("interaction")
        elapsed = (request.arrived or time.monotonic()) - record.created
        if record.callbacks:
            raise DcError.coded(400, 40060, "Interaction has already been acknowledged.")
        if elapsed > self.interaction_timeout:
            raise DcError.unknown("interaction")
        payload = body_of(request)
        kind = payload.get("type")
        if kind not in _CALLBACKS.get(record.type, set()):
            raise DcError.form(
                {
                    "type": field_error(
                        "INTERACTION_CALLBACK_TYPE_INVALID",
                        f"Callback type {kind} is invalid for interaction type {record.type}",
                    )
                }
            )
        data = payload.get("data") or {}
        message = self._callback_effect(record, kind, data, request.files)
        record.callbacks.append((kind, elapsed))
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return NO_CONTENT
        flags = message["flags"] if message else 0
        body: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": None,
        }
        if message is not None:
            body["interaction"]["response_message_id"] = message["id"]
            body["resource"] = {"type": kind, "message": message}
        elif kind != 6:
            body["resource"] = {"type": kind}
        return body

    def _callback_effect(
        self, record: DcInteraction, kind: int, data: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Do what a callback of type ``kind`` does; return the message it shows, if any."""
        if kind == 8:
            record.choices = check_autocomplete_choices(data)
            return None
        if kind == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise DcError.form(
                    {"data": field_error("BASE_TYPE_REQUIRED", "custom_id, title and components")}
                )
            record.modal = data
            return None
        if kind in (6, 7):
            record.original_id = int(record.payload["message"]["id"])  # the message the component is on
            if kind == 6:
                return None
            return self._apply_edit(self.stored(record.channel_id, record.original_id), data, files)
        if kind == 4:
            check_message(data, files=len(files))
        stored = self._interaction_message(record, data, files, loading=kind == 5)
        record.original_id = int(stored.message["id"])
        return copy.deepcopy(stored.message)

    def _interaction_message(
        self,
        record: DcInteraction,
        data: dict[str, Any],
        files: list[dict[str, Any]],
        *,
        loading: bool,
        channel_id: int | None = None,
    ) -> StoredMessage:
        channel_id = channel_id or record.channel_id
        flags = int(data.get("flags") or 0) & _RESPONSE_FLAGS
        if loading:
            flags = (flags & EPHEMERAL) | LOADING
        user = self.user_payload(record.user_id)
        fields = self._new_message_fields(channel_id, {} if loading else data, [] if loading else files)
        first = record.type == 2 and record.original_id is None
        # The response to a slash command is type 20, to a context-menu command 23; anything later is 0.
        kind = (23 if record.payload["data"].get("type", 1) in (2, 3) else 20) if first else 0
        fields.update(
            {
                "flags": flags,
                "type": kind,
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(record.id),
                    "type": record.type,
                    "user": user,
                    "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
                },
            }
        )
        if record.type == 2:
            fields["interaction"] = {
                "id": str(record.id),
                "type": 2,
                "name": record.payload["data"]["name"],
                "user": user,
            }
        stored = self.create_message(
            channel_id, self.bot_id, "" if loading else data.get("content") or "", **fields
        )
        self._emit_message("MESSAGE_CREATE", stored)
        return stored

    def _webhook_interaction(self, request: RestRequest) -> DcInteraction:
        if snowflake(request.params["app_id"]) != self.application_id:
            raise DcError.unknown("Webhook")
        record = next((r for r in self.interactions.values() if r.token == request.params["token"]), None)
        if record is None or not record.callbacks:
            raise DcError.unknown("Webhook")  # the token works only once the interaction is acknowledged
        return record

    def _response_message(self, request: RestRequest) -> tuple[DcInteraction, StoredMessage]:
        record = self._webhook_interaction(request)
        wanted = request.params.get("message_id")
        message_id = record.original_id if wanted is None else snowflake(wanted)
        if message_id is None or (message_id != record.original_id and message_id not in record.followup_ids):
            raise DcError.unknown("Message")
        stored = self._store.get(message_id)
        if stored is None or stored.deleted:
            raise DcError.unknown("Message")
        return record, stored

    def _get_response(self, request: RestRequest) -> Any:
        return copy.deepcopy(self._response_message(request)[1].message)

    def _edit_response(self, request: RestRequest) -> Any:
        _, stored = self._response_message(request)
        return self._apply_edit(stored, body_of(request), request.files, clear_loading=True)

    def _delete_response(self, request: RestRequest) -> Any:
        self._delete(self._response_message(request)[1])
        return NO_CONTENT

    def _followup(self, request: RestRequest) -> Any:
        record = self._webhook_interaction(request)
        payload = body_of(request)
        check_message(payload, files=len(request.files))
        if record.deferred:
            # The first followup after a deferred response replaces the "thinking" message: it becomes the
            # original response (keeping the defer's ephemerality), as on Discord.
            stored = self._store[record.original_id]  # type: ignore[index]
            message = self._apply_edit(
                stored, {k: v for k, v in payload.items() if k != "flags"}, request.files, clear_loading=True
            )
        else:
            thread_id = snowflake(request.query["thread_id"]) if "thread_id" in request.query else None
            if thread_id is not None and thread_id not in self.channels:
                raise DcError.unknown("Channel")
            stored = self._interaction_message(
                record, payload, request.files, loading=False, channel_id=thread_id
            )
            record.followup_ids.append(int(stored.message["id"]))
            message = copy.deepcopy(stored.message)
        return message if request.query.get("wait", "").lower() in ("1", "true") else NO_CONTENT
