"""The fake Venice for benchmarks, in its own process so it does not share the client's loop.

Prints ``VENICE_BASE_URL=…`` once listening; answers every chat with the same fixed text.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

from tests.fakes.venice import ChatScript, FakeVenice

ANSWER = (
    "Here is a short answer of about fifty words, streamed in small pieces the way Venice "
    "streams them, so that the benchmark relays a realistic number of chunks. It says nothing "
    "of interest, on purpose: the time that matters is the bot's own, around the call."
)


async def serve() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # No spec validation: it would cost the fake more than the client costs the bot.
    async with FakeVenice(validate=False) as fake:

        def fixed(body: dict[str, Any]) -> ChatScript:
            return ChatScript(content=ANSWER)

        fake.responder = fixed
        # --echo-upscale: /image/upscale sends the upload straight back (bench/media.py
        # measures the bot's memory, not Pillow's in the fake).
        fake.upscale_echo = "--echo-upscale" in sys.argv
        # No per-model limits: the bot would (rightly) pace a benchmark's hundreds of
        # requests a minute to the key's limits, and measure the limiter instead of itself.
        fake.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}
        print(f"VENICE_BASE_URL={fake.base_url}", flush=True)
        while not stop.is_set():  # the fake records every call; a benchmark makes thousands
            fake.calls.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


if __name__ == "__main__":
    asyncio.run(serve())
