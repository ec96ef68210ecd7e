"""Serve an ASGI app over real HTTP on 127.0.0.1 inside the running event loop, and misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

import uvicorn
from aiohttp import web
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

AbortConnection = Callable[[Scope], bool]


@dataclass
class Hold:
    """A request a fake keeps waiting (to kill its client at that moment) until ``release``."""

    key: str  # what the fake matches: a path pattern, a method name
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # the request is being held now
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let the held request go on (if its client is still there)."""
        self.released.set()


class Holds:
    """The holds a fake was asked for; the fake calls ``wait`` for each request it serves."""

    def __init__(self, matches: Callable[[str, str], bool]) -> None:
        self._matches = matches  # (hold key, request key) -> whether the hold takes this request
        self._asked: list[Hold] = []
        self._holding: list[Hold] = []

    def add(self, key: str) -> Hold:
        """Hold the next request that ``key`` matches."""
        hold = Hold(key)
        self._asked.append(hold)
        return hold

    async def wait(self, request: str) -> None:
        """Keep the request waiting if a hold takes it, until the hold is released."""
        hold = next((h for h in self._asked if self._matches(h.key, request)), None)
        if hold is None:
            return
        self._asked.remove(hold)
        self._holding.append(hold)
        hold.arrived.set()
        try:
            await hold.released.wait()
        finally:
            self._holding.remove(hold)

    def release_all(self) -> None:
        """Let every held request go (the fake is stopping: nobody waits on them)."""
        for hold in list(self._holding):
            hold.release()


def loopback_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to 127.0.0.1 (``port`` 0: one the OS picks), for an in-process fake.

    The protocol must be IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets
    whose proto says TCP, and without it every keep-alive request waits ~40 ms for Nagle and the
    peer's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def serve_aiohttp(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve an aiohttp app on 127.0.0.1 in this event loop; return its runner and port.

    ``handler_cancellation``: a request the client abandons (a long poll) must end, not keep
    running and swallow what comes next; a short shutdown timeout keeps teardown fast.
    """
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    sock = loopback_socket()
    await web.SockSite(runner, sock).start()
    return runner, sock.getsockname()[1]


class _InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host (pytest, a __main__) and stops without polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    def request_exit(self) -> None:
        """Set ``should_exit`` and wake the main loop at once."""
        self.should_exit = True
        self._exit_requested.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # uvicorn would otherwise take Ctrl-C away from the whole pytest run

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; a suite that starts a server per test would pay that each time.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), timeout=0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own shutdown sleeps a fixed 0.1 s for connections to close, again per test. Local
        # connections close in microseconds, so poll for them instead; the steps are uvicorn's.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after their response
        await self._settle(lambda: bool(self.server_state.connections or self.server_state.tasks))
        # Still busy means a response nobody reads (say, a stream the test walked away from). Cut the
        # connection, so the response ends as on a client disconnect instead of logging a cancellation.
        for connection in list(self.server_state.connections):
            connection.transport.abort()
        await self._settle(lambda: bool(self.server_state.tasks))
        for task in list(self.server_state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()

    @staticmethod
    async def _settle(busy: Callable[[], bool], grace: float = 0.25) -> None:
        deadline = asyncio.get_running_loop().time() + grace
        while busy() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.002)


class LocalServer:
    """Run an ASGI app with uvicorn in this event loop, on ("127.0.0.1", port); port 0 lets the OS pick."""

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: _InProcessServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the socket, start uvicorn as a task, and wait until it accepts connections."""
        sock = loopback_socket(self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            log_config=None,  # leave the host's logging configuration alone
            lifespan="off",
            http="h11",
            ws="none",
        )
        self._server = _InProcessServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raise why uvicorn could not start
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        """Ask uvicorn to exit and wait until it has."""
        if self._server is None or self._task is None:
            return
        self._server.request_exit()
        await self._task
        self._server = self._task = None

    def abort_connection(self, scope: Scope) -> bool:
        """Abort the TCP connection a request arrived on; return False if it cannot be found."""
        client = scope.get("client")
        if self._server is None or client is None:
            return False
        # uvicorn keeps its protocol objects here; each knows its peer address and its transport.
        for connection in list(self._server.server_state.connections):
            if tuple(getattr(connection, "client", None) or ()) == tuple(client):
                connection.transport.abort()
                return True
        return False


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class DropConnection(Response):
    """Send nothing at all: abort the connection, as a crashed proxy or a network failure would."""

    def __init__(self, abort: AbortConnection) -> None:
        super().__init__(status_code=500)  # never sent
        self._abort = abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._abort(scope):
            raise ConnectionAbortedError("could not find the connection to drop")
        # Return only once uvicorn has seen the disconnect, or it would answer 500 on our behalf.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wait_for_disconnect(receive), timeout=1.0)


class EventStreamResponse(Response):
    """Send server-sent events one ``send()`` each, with optional pauses and an abrupt cut."""

    def __init__(
        self,
        events: Iterable[bytes],
        headers: dict[str, str],
        abort: AbortConnection,
        delay: float = 0.0,
        cut_before: int | None = None,
    ) -> None:
        """Stream ``events``, sleeping ``delay`` between them; abort the connection before event ``cut_before``."""
        super().__init__(status_code=200, headers=headers, media_type="text/event-stream")
        self._events, self._abort, self._delay, self._cut_before = events, abort, delay, cut_before

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Response() counted an empty body; a stream has no length (h11 then uses chunked encoding).
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"] + [
            (b"cache-control", b"no-cache")
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            for index, event in enumerate(self._events):
                if index == self._cut_before:
                    self._abort(scope)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(disconnected), timeout=1.0)
                    return
                if index and self._delay > 0:
                    # Sleep, but wake at once if the client goes away meanwhile.
                    await asyncio.wait([disconnected], timeout=self._delay)
                if disconnected.done():
                    return  # the client went away: stop generating, as Venice does
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            disconnected.cancel()
