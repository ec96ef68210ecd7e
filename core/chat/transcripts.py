"""/transcript: Venice transcribes a YouTube video (it fetches the video; the bot never does), and
the transcript joins the conversation the way a document does: answered about once, named in
the stored turn, kept in memory for follow-up questions. Venice publishes no price for it: the
bot charges TRANSCRIPT_PRICE_USD per transcript."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.chat.documents import ReadDocument
from core.errors import InvalidInput
from core.events import IncomingMessage, ReplyStream
from core.money import usd
from core.settings import Settings
from core.text import estimate_tokens
from core.venice.client import VeniceClient
from core.venice.errors import BadRequest

if TYPE_CHECKING:
    from core.chat.turn import ChatTurns

FEATURE = "transcript"
MODEL = "video-transcriptions"  # what Venice's rate limits and the ledger name the call after
VIDEO_QUESTION = "Summarise this video briefly."
# Venice's documentation: watch, share, embed, live and shorts links on youtube.com, youtu.be and
# youtube-nocookie.com; any other URL is a 400.
_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")
_ID = r"[\w-]{6,}"
NOT_YOUTUBE = (
    "Venice transcribes YouTube videos only: send a youtube.com or youtu.be link, e.g. "
    "/transcript https://youtu.be/dQw4w9WgXcQ"
)


def youtube_url(text: str) -> str:
    """The YouTube video link the user gave, or a refusal of anything else (before any charge)."""
    url = text.strip().strip("<>")
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    video = (
        re.fullmatch(f"/{_ID}", parts.path)
        if host == "youtu.be"
        else re.search(f"(^|&)v={_ID}", parts.query) or re.match(f"/(embed|live|shorts)/{_ID}", parts.path)
    )
    if parts.scheme not in ("http", "https") or host not in _HOSTS or not video:
        raise InvalidInput(NOT_YOUTUBE)
    return parts.geturl()


class VideoTranscripts:
    """Fetch a video's transcript from Venice, paid."""

    def __init__(
        self, settings: Settings, *, venice: VeniceClient, prices: Prices, cashier: Cashier, turns: ChatTurns
    ) -> None:
        self._settings = settings
        self._venice = venice
        self._prices = MediaPrices(prices)
        self._cashier = cashier
        self._turns = turns

    async def answer(self, message: IncomingMessage, url: str, question: str) -> ReplyStream:
        """/transcript: the video's transcript, then the question about it (by default, a short
        summary) answered in the conversation, which keeps the transcript for follow-ups."""
        youtube_url(url)  # refused before anything is charged
        return await self._turns.answer_read(
            message, lambda: self.read(message, url), question or VIDEO_QUESTION
        )

    async def read(self, message: IncomingMessage, url: str) -> ReadDocument:
        """The video's transcript as a document named after its link; refunded when Venice fails
        or hears nothing, refused (but paid: Venice did the work) when longer than
        MAX_DOCUMENT_TOKENS."""
        url = youtube_url(url)
        name = f"the transcript of {url}"
        price = self._prices.flat(self._settings.transcript_price_usd, FEATURE)
        async with self._cashier.paying(
            message, price, feature=FEATURE, model_id=MODEL, answers=False
        ) as held:
            try:
                transcript = await self._venice.transcribe_video(url)
            except BadRequest as exc:
                raise InvalidInput(
                    "Venice could not transcribe that video: it may be private, removed, or not a "
                    "video. You were not charged.",
                    detail=str(exc),
                ) from exc
            text = transcript.text.strip()
            if not text:
                await self._cashier.refund(held)
                raise InvalidInput("Venice heard no speech in that video. You were not charged.")
            cost = await self._cashier.settle(held, price)
        tokens, limit = estimate_tokens(text), self._settings.max_document_tokens
        if tokens > limit:
            raise InvalidInput(
                f"That video's transcript is about {tokens:,} tokens; the bot answers about texts of up "
                f"to {limit:,} tokens. The transcript cost {usd(cost)}; nothing else was charged."
            )
        return ReadDocument(name, text, tokens, cost)
