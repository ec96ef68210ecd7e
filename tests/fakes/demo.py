"""Offline demo: the real console chat against the fake Venice, no API key needed.

``make demo`` (or ``python -m tests.fakes.demo``). The conversation is kept in
``data/demo.db``, so a second run continues it, as with the real bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from adapters.terminal import chat_in_terminal
from bots.bootstrap import build_service
from bots.logs import setup_logging
from core.settings import Settings
from tests.fakes.venice import FakeVenice

DEMO_KEY = "demo-key-not-secret"


async def demo(database_url: str = "sqlite:///data/demo.db") -> None:
    """Start the fake Venice on 127.0.0.1 and chat with it in this terminal."""
    async with FakeVenice(api_key=DEMO_KEY) as fake:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            venice_api_key=DEMO_KEY,
            venice_base_url=fake.base_url,
            database_url=database_url,
            log_level="WARNING",
        )
        setup_logging(settings.log_level, [DEMO_KEY])
        print(
            f"Offline demo: the fake Venice runs at {fake.base_url}; answers are canned "
            "echoes that show what the bot remembers.",
            file=sys.stderr,
        )
        async with build_service(settings) as service:
            await chat_in_terminal(service)


def main() -> None:
    """Run the demo until /quit or end of input."""
    logging.getLogger("tests.fakes").setLevel(logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(demo())


if __name__ == "__main__":
    main()
