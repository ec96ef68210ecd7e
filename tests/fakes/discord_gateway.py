"""The fake Discord's gateway: a websocket with HELLO, IDENTIFY/READY, heartbeats, RESUME and numbered dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_api import Intent
from tests.fakes.discord_state import DM_TYPES, DiscordState

__all__ = ["DiscordGateway", "GatewaySession"]

HELLO, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME, RECONNECT = 10, 1, 2, 3, 4, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HEARTBEAT_ACK, DISPATCH = 8, 9, 11, 0
_CLOSE = (
    object()
)  # queued after a close code: the writer closes the socket in order with the frames before it


@dataclass
class GatewaySession:
    """One gateway session (one shard): its sequence and every dispatch, to replay on RESUME."""

    id: str
    shard: tuple[int, int]  # (shard id, shard count); (0, 1) when the client does not shard
    intents: int
    seq: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)  # (s, frame)
    connection: _Connection | None = None


class _Connection:
    """One websocket; frames go out through a queue so that they leave in the order they were made."""

    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.session: GatewaySession | None = None
        self.dead = False  # closed or broken: frames sent now are dropped

    def send(self, payload: dict[str, Any] | str) -> None:
        if not self.dead:
            self.queue.put_nowait(payload if isinstance(payload, str) else json.dumps(payload))

    def close(self, code: int, message: str = "") -> None:
        if not self.dead:
            self.queue.put_nowait((_CLOSE, code, message))

    async def write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item, tuple):
                    self._drop_rest()
                    await self.ws.close(code=item[1], message=item[2].encode())
                    return
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                self._drop_rest()  # the client went away; reading notices and ends the connection
                return
            finally:
                self.queue.task_done()

    def _drop_rest(self) -> None:
        self.dead = True
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()


class DiscordGateway(DiscordState):
    """The gateway side: connections, sessions, and ``_emit`` to turn a change of the world into a DISPATCH."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        """Create the fake with no gateway connections yet."""
        super().__init__(token=token, bot_name=bot_name)
        self.heartbeat_interval_ms = 41250
        self.shards = 1  # what GET /gateway/bot recommends (AutoShardedClient follows it)
        self.allowed_intents = Intent.ALL  # privileged intents switched on in the developer portal
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads ("d"), in arrival order
        self.resumes = 0
        self.heartbeats = 0
        self.presences: list[dict[str, Any]] = []  # op 3 PRESENCE_UPDATE payloads
        self.errors: list[str] = []  # tracebacks of the fake's own failures: should stay empty
        self._sessions: dict[int, GatewaySession] = {}  # shard id -> the live session
        self._connections: list[_Connection] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    @property
    def gateway_url(self) -> str:
        """Return the websocket URL: DEFAULT_GATEWAY, /gateway/bot's url and READY's resume_gateway_url."""
        return self._origin.replace("http://", "ws://", 1) + "/gateway"

    # ---- test API ----------------------------------------------------------------------------------

    async def wait_until_ready(self, timeout: float = 5.0) -> None:
        """Wait until every shard has identified and been sent READY and its GUILD_CREATEs."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no IDENTIFY within {timeout} s (identifies so far: {len(self.identifies)})"
            ) from None

    async def flush(self) -> None:
        """Wait until every queued gateway frame has been written to its socket."""
        for connection in list(self._connections):
            await connection.queue.join()

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every connection: discord.py reconnects and RESUMEs."""
        for connection in self._connections:
            connection.send({"op": RECONNECT, "d": None})

    def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION on every connection (the client then identifies anew, after 1-5 s)."""
        for connection in self._connections:
            connection.send({"op": INVALID_SESSION, "d": resumable})
        if not resumable:
            self._sessions.clear()
            self._ready.clear()

    @property
    def connected(self) -> bool:
        """Return True if some session has a live websocket."""
        return any(s.connection is not None for s in self._sessions.values())

    # ---- dispatching -------------------------------------------------------------------------------

    def _emit(self, event: str, data: dict[str, Any], *, guild_id: int | None, intent: int) -> None:
        """Dispatch ``event`` to the session of ``guild_id``'s shard (DMs: shard 0) if it subscribed to ``intent``.

        A session without a socket (between a drop and RESUME) keeps the event to replay.
        """
        for shard_id, session in self._sessions.items():
            count = session.shard[1]
            wanted = 0 if guild_id is None else (guild_id >> 22) % count
            if shard_id != wanted or (intent and not session.intents & intent):
                continue
            session.seq += 1
            frame = json.dumps(
                {"op": DISPATCH, "t": event, "s": session.seq, "d": self._for_session(session, event, data)}
            )
            session.log.append((session.seq, frame))
            if session.connection is not None:
                session.connection.send(frame)

    def _for_session(self, session: GatewaySession, event: str, data: dict[str, Any]) -> dict[str, Any]:
        # Without MESSAGE_CONTENT Discord blanks what a guild message says, unless the bot wrote it, is
        # mentioned in it, or it is a DM.
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & Intent.MESSAGE_CONTENT:
            return data
        if "guild_id" not in data or data.get("author", {}).get("id") == str(self.bot_id):
            return data
        if any(m.get("id") == str(self.bot_id) for m in data.get("mentions", [])):
            return data
        blank = dict(data, content="", embeds=[], attachments=[], components=[])
        blank.pop("poll", None)
        return blank

    def _guild_added(self, guild_id: int) -> None:
        self._emit_guild_create(guild_id)

    def _emit_guild_create(self, guild_id: int) -> None:
        for shard_id, session in self._sessions.items():
            if (guild_id >> 22) % session.shard[1] == shard_id:
                full = bool(session.intents & Intent.GUILD_MEMBERS)
                self._emit_to(session, "GUILD_CREATE", self.guild_create_payload(guild_id, all_members=full))

    def _emit_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = json.dumps({"op": DISPATCH, "t": event, "s": session.seq, "d": data})
        session.log.append((session.seq, frame))
        if session.connection is not None:
            session.connection.send(frame)

    def _channel_added(self, channel_id: int) -> None:
        guild_id = self.guild_of(channel_id)
        self._emit(
            "CHANNEL_CREATE", self.channel_payload(channel_id), guild_id=guild_id, intent=Intent.GUILDS
        )

    def _channel_changed(self, channel_id: int) -> None:
        if self.channels[channel_id]["type"] in DM_TYPES:
            return
        event = "THREAD_UPDATE" if self.channels[channel_id]["type"] in (10, 11, 12) else "CHANNEL_UPDATE"
        self._emit(
            event, self.channel_payload(channel_id), guild_id=self.guild_of(channel_id), intent=Intent.GUILDS
        )

    def _member_added(self, guild_id: int, user_id: int) -> None:
        data = self.member_payload(guild_id, user_id) | {"guild_id": str(guild_id)}
        self._emit("GUILD_MEMBER_ADD", data, guild_id=guild_id, intent=Intent.GUILD_MEMBERS)

    # ---- the websocket -----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        connection = _Connection(ws, dict(request.query))
        self._connections.append(connection)
        writer = asyncio.create_task(connection.write_loop())
        self._writers.add(writer)
        connection.send(
            {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake"]}}
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    connection.close(4002, "Error while decoding payload.")
                    break
                try:
                    payload = json.loads(message.data)
                    op, data = payload["op"], payload.get("d")
                except (ValueError, KeyError, TypeError):
                    connection.close(4002, "Error while decoding payload.")
                    break
                try:
                    self._receive(connection, op, data)
                except Exception:  # noqa: BLE001 - a bug in the fake: keep it, close as Discord does on errors
                    self.errors.append(f"gateway op {op}: {traceback.format_exc()}")
                    connection.close(4000, "Unknown error.")
        finally:
            self._connections.remove(connection)
            if connection.session is not None and connection.session.connection is connection:
                connection.session.connection = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.queue.join(), 0.5)  # let a queued close frame go out
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._writers.discard(writer)
        return ws

    def _receive(self, connection: _Connection, op: int, data: Any) -> None:
        if op in (IDENTIFY, RESUME, REQUEST_MEMBERS, PRESENCE) and not isinstance(data, dict):
            connection.close(4002, "Error while decoding payload.")
        elif op == HEARTBEAT:
            self.heartbeats += 1
            connection.send({"op": HEARTBEAT_ACK, "d": None})
        elif op == IDENTIFY:
            self._identify(connection, data)
        elif op == RESUME:
            self._resume(connection, data)
        elif op == PRESENCE:
            self.presences.append(data)
        elif op == REQUEST_MEMBERS:
            self._request_members(connection, data)
        elif op != VOICE_STATE:
            connection.close(4001, "Unknown opcode.")

    def _identify(self, connection: _Connection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if connection.session is not None:
            connection.close(4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            connection.close(4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents & ~Intent.ALL:
            connection.close(4013, "Invalid intent(s).")
            return
        if intents & Intent.PRIVILEGED & ~self.allowed_intents:
            connection.close(4014, "Disallowed intent(s).")
            return
        shard_id, count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < count:
            connection.close(4010, "Invalid shard.")
            return
        session = GatewaySession(uuid.uuid4().hex, (shard_id, count), intents, connection=connection)
        connection.session = session
        self._sessions[shard_id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user,
            "user_settings": {},
            "session_type": "normal",
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "guilds": [
                {"id": str(g), "unavailable": True} for g in self.guilds if (g >> 22) % count == shard_id
            ],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "_trace": ["fake"],
        }
        if "shard" in data:
            ready["shard"] = [shard_id, count]
        self._emit_to(session, "READY", ready)
        for guild_id in self.guilds:
            if (guild_id >> 22) % count == shard_id:
                full = bool(intents & Intent.GUILD_MEMBERS)
                self._emit_to(session, "GUILD_CREATE", self.guild_create_payload(guild_id, all_members=full))
        if len(self._sessions) >= count:
            self._ready.set()

    def _resume(self, connection: _Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            connection.close(4004, "Authentication failed.")
            return
        session = next((s for s in self._sessions.values() if s.id == data.get("session_id")), None)
        if session is None:
            connection.send({"op": INVALID_SESSION, "d": False})
            return
        self.resumes += 1
        session.connection = connection
        connection.session = session
        after = data.get("seq") or 0
        for seq, frame in session.log:
            if seq > after:
                connection.send(frame)
        self._emit_to(session, "RESUMED", {"_trace": ["fake"]})

    def _request_members(self, connection: _Connection, data: dict[str, Any]) -> None:
        guild_id = int(data["guild_id"])
        if connection.session is None or guild_id not in self.guilds:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        members = [
            self.member_payload(guild_id, user_id)
            for user_id in self.members[guild_id]
            if (not wanted or user_id in wanted) and self.users[user_id]["username"].startswith(query)
        ]
        chunk = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        self._emit_to(connection.session, "GUILD_MEMBERS_CHUNK", chunk)

    def _application_flags(self) -> int:
        # The "_LIMITED" flags: what the portal toggles set for a bot in fewer than 100 servers.
        flags = 0
        for intent, flag in (
            (Intent.GUILD_PRESENCES, 1 << 13),
            (Intent.GUILD_MEMBERS, 1 << 15),
            (Intent.MESSAGE_CONTENT, 1 << 19),
        ):
            if self.allowed_intents & intent:
                flags |= flag
        return flags

    async def _close_gateway(self) -> None:
        """Close every websocket with 1001 (going away), as at a Discord restart."""
        for connection in list(self._connections):
            connection.close(1001, "Going away.")
        for writer in list(self._writers):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), 0.5)
