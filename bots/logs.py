"""Logging set-up: one format, quiet HTTP libraries, secrets masked in every record."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_TOKEN_FIELD = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+(['"])""")


class RedactSecrets(logging.Filter):
    """Replace secret values wherever they appear in a formatted log record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = message
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        if "token" in text:  # interaction and webhook tokens in discord.py's DEBUG event dumps
            text = _TOKEN_FIELD.sub(r"\1[secret]\2", text)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text = record.exc_text
        if exc_text:
            for secret in self._secrets:
                exc_text = exc_text.replace(secret, "[secret]")
            record.exc_text = exc_text
        if text != message:
            record.msg, record.args = text, None
        return True


# Libraries whose DEBUG lines carry what users wrote (PTB logs every Bot API call and its
# result, discord.py every gateway event): from INFO unless LOG_CONTENT=true.
CONTENT_LOGGERS = ("telegram", "discord", "core.content")


def setup_logging(level: str, secrets: Iterable[str] = (), *, log_content: bool = False) -> None:
    """Log to stderr at ``level``; httpx and httpcore only from WARNING (their INFO lines
    carry URLs, and some platforms put tokens in URLs); message content only when
    ``log_content`` (LOG_CONTENT=true, for debugging)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 and httpcore2: the mcp SDK's HTTP client (an MCP server's URL may carry a key).
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # discord.py logs request URLs at DEBUG, and webhook and interaction URLs end in their
    # tokens: keep those lines out even when the bot logs at DEBUG.
    for tokens_in_urls in ("discord.http", "discord.webhook"):
        logging.getLogger(tokens_in_urls).setLevel(max(logging.INFO, root.level))
    for content in CONTENT_LOGGERS:
        if content == "core.content":  # the core's own content lines: only when asked for
            logging.getLogger(content).setLevel(logging.DEBUG if log_content else logging.CRITICAL + 1)
        else:  # set either way: a second call (tests, a reload) must not keep the first's level
            logging.getLogger(content).setLevel(
                logging.NOTSET if log_content else max(logging.INFO, root.level)
            )
