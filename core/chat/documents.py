"""Documents users send (PDF, DOCX, PPTX, XLSX, text): which files are documents, reading them
with Venice's text parser (a paid call), and how their text goes into the turn that answers them.

The file itself is never kept: its text goes to the model with this question only, the stored
turn names it (``[document: NAME, N tokens] question``), and the text is handed to the
conversation's memory, which keeps it for recall in follow-up questions.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field

from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.errors import BotError, InvalidInput
from core.events import Attachment, IncomingMessage
from core.money import usd
from core.settings import Settings
from core.text import estimate_tokens, plural
from core.venice.client import VeniceClient
from core.venice.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

log = logging.getLogger(__name__)

DEFAULT_QUESTION = "Summarise this document briefly."
SUPPORTED = (
    "PDF, Word (DOCX), PowerPoint (PPTX), Excel (XLSX) and text files (TXT, Markdown, CSV, JSON, code…)"
)
PARSER = "text-parser"  # what Venice's rate limits and the ledger name the reading call after

# A plain text file longer than this many bytes a token is surely over MAX_DOCUMENT_TOKENS, and
# refused before Venice is paid to count it (tokens of ordinary text hold about 4).
TEXT_BYTES_PER_TOKEN = 16
_OFFICE = "application/vnd.openxmlformats-officedocument"
_PACKAGED = frozenset({"pdf", "docx", "pptx", "xlsx"})  # compressed: their size says little
_PACKAGED_TYPES = frozenset(
    {
        "application/pdf",
        f"{_OFFICE}.wordprocessingml.document",
        f"{_OFFICE}.presentationml.presentation",
        f"{_OFFICE}.spreadsheetml.sheet",
    }
)
_TEXT_TYPES = frozenset(  # text that is not text/*
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/sql",
        "application/javascript",
        "application/x-sh",
    }
)
# Venice's parser reads plain text and source code by their names too (a .py may come as
# application/octet-stream).
_EXTENSION_WORDS = (
    "pdf docx pptx xlsx txt text md markdown rst csv tsv json jsonl yaml yml toml ini cfg xml html htm "
    "log tex py js ts tsx jsx go rs c h cpp hpp cs java kt swift rb php sh sql r lua"
)
_EXTENSIONS = frozenset(_EXTENSION_WORDS.split())


def is_document(mime_type: str, filename: str | None) -> bool:
    """Whether a user's file is a document the bot reads (by its type, else its name)."""
    mime = _media_type(mime_type)
    if mime.startswith("text/") or mime in _PACKAGED_TYPES | _TEXT_TYPES:
        return True
    return extension(filename) in _EXTENSIONS


def _media_type(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def extension(filename: str | None) -> str:
    """A file name's extension, lower-cased, without the dot ("" when it has none)."""
    name = (filename or "").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name.strip(".") else ""


def unsupported(attachment: Attachment) -> InvalidInput:
    """The refusal of a file the bot cannot read, naming what it reads."""
    name = attachment.filename or "that file"
    return InvalidInput(
        f"The bot cannot read {name}. It reads {SUPPORTED}, and images and voice notes as they are."
    )


@dataclass(frozen=True)
class ReadDocument:
    """A document's text as Venice read it, and what reading it cost (micro-USD)."""

    name: str
    text: str = field(repr=False)
    tokens: int
    cost: int


@dataclass(frozen=True)
class DocumentQuestion:
    """A question about a document: what the model is sent, and what the conversation keeps."""

    document: ReadDocument
    question: str
    unread: int = 0  # documents sent with it that were not read

    @property
    def prompt(self) -> str:
        """The newest user message: the document's whole text, then the question."""
        return (
            f"The user sent the document {self.document.name}:\n<document>\n{self.document.text}\n"
            f"</document>\n\nQuestion: {self.question}"
        )

    @property
    def stored(self) -> str:
        """The user turn as stored: the document named, not its text (memory keeps that)."""
        return f"[document: {self.document.name}, {self.document.tokens:,} tokens] {self.question}"

    @property
    def preface(self) -> str:
        """What the answer opens with, so the user sees which document was read."""
        line = f"> 📄 {self.document.name} · {self.document.tokens:,} tokens"
        if self.unread:
            line += f" (the bot reads one document a message: {plural(self.unread, 'other')} not read)"
        return line + "\n\n"

    def failed(self, error: BotError) -> None:
        """Say, in the error of an answer that failed after the document was read, that the
        answer was not charged and the reading was (Venice did that work)."""
        said = error.user_message.replace(" You were not charged.", "").rstrip()
        error.user_message = (
            f"{said} The answer was not charged; reading {self.document.name} cost {usd(self.document.cost)}."
        )


class Documents:
    """Read documents with Venice's text parser, paid."""

    def __init__(
        self,
        settings: Settings,
        *,
        venice: VeniceClient,
        prices: Prices,
        cashier: Cashier,
    ) -> None:
        self._settings = settings
        self._venice = venice
        self._prices = MediaPrices(prices)
        self._cashier = cashier

    async def read(self, message: IncomingMessage, attachment: Attachment) -> ReadDocument:
        """Extract a document's text (Venice charges per document read); refuse one that is
        empty, unreadable, or longer than MAX_DOCUMENT_TOKENS."""
        name = attachment.filename or "document" + (mimetypes.guess_extension(attachment.mime_type) or ".txt")
        if not attachment.data:
            raise InvalidInput(f"{name} is empty: there is nothing to read.")
        limit = self._settings.max_document_tokens
        packaged = extension(name) in _PACKAGED or _media_type(attachment.mime_type) in _PACKAGED_TYPES
        if not packaged and len(attachment.data) > limit * TEXT_BYTES_PER_TOKEN:
            raise InvalidInput(
                f"{name} is about {estimate_tokens(attachment.data.decode(errors='replace')):,} tokens "
                f"long; the bot answers about documents of up to {limit:,} tokens. Send a shorter part "
                "of it. You were not charged."
            )
        price = self._prices.document()
        async with self._cashier.paying(
            message, price, feature="document", model_id=PARSER, answers=False
        ) as held:
            try:
                parsed = await self._venice.parse_document(
                    attachment.data, filename=name, mime_type=attachment.mime_type
                )
            except (BadRequest, UnsupportedMediaType, Unprocessable) as exc:
                raise InvalidInput(
                    f"Venice could not read {name}: it may be damaged, protected by a password, or "
                    f"not what its name says. Send it as {SUPPORTED}. You were not charged.",
                    detail=str(exc),
                ) from exc
            except PayloadTooLarge as exc:
                raise InvalidInput(
                    f"{name} is too large for Venice to read. Send a smaller file. You were not charged.",
                    detail=str(exc),
                ) from exc
            text = parsed.text.strip()
            if not text:
                await self._cashier.refund(held)
                raise InvalidInput(
                    f"There is no text in {name} (a scanned PDF holds pictures of pages: send them as "
                    "images instead). You were not charged."
                )
            cost = await self._cashier.settle(held, price)
        if parsed.tokens > limit:
            raise InvalidInput(
                f"{name} is {parsed.tokens:,} tokens long; the bot answers about documents of up to "
                f"{limit:,} tokens. Send a shorter part of it. Reading it cost {usd(cost)}; "
                "nothing else was charged."
            )
        return ReadDocument(name, text, parsed.tokens, cost)
