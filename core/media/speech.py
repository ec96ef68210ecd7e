"""Speech: voice replies and /speak (Ogg/Opus voice notes), the chat's voice, and voice notes
transcribed."""

from __future__ import annotations

import difflib
import logging

from core import audio
from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.catalogue import Catalogue, voices_of
from core.errors import InvalidInput
from core.events import Attachment, Charge, IncomingMessage, Notice, Reply, ReplyStream
from core.media.uploads import Uploads, priced
from core.ports.records import ChatSettings
from core.ports.storage import ChatSettingsStore
from core.runner import Runner
from core.settings import Settings
from core.venice.client import VeniceClient
from core.venice.errors import VeniceError
from core.venice.types import ModelInfo

log = logging.getLogger(__name__)


class Speech:
    """Read answers aloud and transcribe what users say."""

    def __init__(
        self,
        settings: Settings,
        *,
        venice: VeniceClient,
        chat_settings: ChatSettingsStore,
        prices: Prices,
        catalogue: Catalogue,
        cashier: Cashier,
        runner: Runner,
        uploads: Uploads,
    ) -> None:
        self.settings = settings
        self._catalogue = catalogue
        self._venice = venice
        self._chat_settings = chat_settings
        self._prices = MediaPrices(prices)
        self._cashier = cashier
        self._runner = runner
        self._uploads = uploads

    # ----- speech

    async def voice_of(self, chat: ChatSettings, character_voice: str | None = None) -> tuple[ModelInfo, str]:
        """The chat's TTS model and voice (a bound character's own voice first), checked
        against Venice's list."""
        models = await self._catalogue.models_of("tts")
        if character_voice:
            for candidate in models:
                if character_voice in voices_of(candidate):
                    return candidate, character_voice
        wanted = chat.tts_model or self.settings.default_tts_model
        model = next((m for m in models if m.id == wanted), None)
        if model is None:
            if not models:
                raise InvalidInput("Venice lists no text-to-speech models right now.")
            model = models[0]
        voices = voices_of(model)
        voice = chat.tts_voice or self.settings.default_tts_voice
        if voices and voice not in voices:
            voice = str(model.raw.get("model_spec", {}).get("default_voice") or voices[0])
        return model, voice

    async def speak(self, message: IncomingMessage, text: str) -> ReplyStream:
        """``/speak``: the text as a voice note."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)

        async def work(stream: ReplyStream) -> None:
            files, notices, charge = await self.spoken(message, chat, text)
            stream.finish(Reply(attachments=files, notices=tuple(notices), charges=(charge,)))

        return self._runner.spawn(work, activity="record_voice")

    async def spoken(
        self, message: IncomingMessage, chat: ChatSettings, text: str, voice: str | None = None
    ) -> tuple[tuple[Attachment, ...], list[Notice], Charge]:
        """Speak a text as Ogg/Opus voice notes, in sentence-bounded parts of 4,096 characters;
        returns the files, the notices and what was charged.

        At most MAX_SPOKEN_PARTS parts are spoken; a longer text gets a notice saying where the
        voice stops. Each part is paid by its characters.
        """
        model, voice = await self.voice_of(chat, voice)
        parts = audio.speech_parts(audio.speakable(text))
        if not parts:
            raise InvalidInput("There is nothing to read aloud in that text.")
        notices: list[Notice] = []
        limit = self.settings.max_spoken_parts
        if len(parts) > limit:
            notices.append(
                Notice(
                    f"The voice covers the first {limit * audio.TTS_LIMIT:,} characters or so; the "
                    "rest is in the text.",
                    "info",
                )
            )
            parts = parts[:limit]
        price = priced(self._prices.speech(model, sum(len(p) for p in parts)), model)
        files: list[Attachment] = []
        async with self._cashier.paying(message, price, feature="speech", model_id=model.id) as held:
            spoken = 0
            for number, part in enumerate(parts, start=1):
                try:
                    data = await self._venice.speech(part, model=model.id, voice=voice)
                    duration = audio.opus_duration(data)
                except ValueError:  # not Ogg/Opus: nothing a platform could play
                    if not files:
                        raise _unreadable_speech() from None
                    notices.append(Notice(f"The voice stops after part {number - 1}.", "warning"))
                    break
                except VeniceError:
                    if not files:
                        raise
                    notices.append(
                        Notice(
                            f"The voice stops after part {number - 1}: Venice failed on the rest.", "warning"
                        )
                    )
                    break
                spoken += len(part)
                name = "voice.ogg" if len(parts) == 1 else f"voice-{number}.ogg"
                files.append(Attachment("voice", "audio/ogg", data, filename=name, duration=duration))
            charged = await self._cashier.settle(held, self._prices.speech(model, spoken) or 0)
        return tuple(files), notices, Charge.of(held, charged)

    async def set_voice(self, message: IncomingMessage, name: str) -> Reply:
        """Choose a voice (and the model it belongs to)."""
        models = await self._catalogue.models_of("tts")
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        current, _ = await self.voice_of(chat)
        ordered = [current] + [m for m in models if m.id != current.id]
        for model in ordered:
            for voice in voices_of(model):
                if voice.lower() == name.lower():
                    await self._chat_settings.update(
                        message.platform, message.chat_id, tts_model=model.id, tts_voice=voice
                    )
                    return Reply(f"Voice set to {voice} ({model.id}).")
        every = [v for m in models for v in voices_of(m)]
        close = difflib.get_close_matches(name, every, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " Send /voice for the list."
        raise InvalidInput(f"There is no voice {name!r}.{hint}")

    async def voices(self, message: IncomingMessage) -> tuple[ModelInfo, str, tuple[str, ...]]:
        """The chat's model and voice, and that model's voices."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        model, voice = await self.voice_of(chat)
        return model, voice, voices_of(model)

    # ----- transcription

    async def transcribe(self, message: IncomingMessage, attachment: Attachment) -> str:
        """Turn a voice note, audio file or video note into text, paid per second."""
        info = audio.probe(attachment.data, video=attachment.kind == "video")
        seconds = info.duration or attachment.duration or 0.0
        self._uploads.check_duration(seconds)
        model_id = self.settings.transcription_model
        model = next((m for m in await self._catalogue.models_of("asr") if m.id == model_id), None)
        if model is None:
            raise InvalidInput(f"Venice does not offer the transcription model {model_id} right now.")
        price = priced(self._prices.transcription(model, seconds), model)
        async with self._cashier.paying(
            message, price, feature="transcription", model_id=model.id, answers=False
        ) as held:
            heard = await self._venice.transcribe(
                attachment.data,
                model=model.id,
                mime_type=info.mime_type,
                filename=f"{attachment.kind}.{info.format}",
            )
            text = " ".join(heard.text.split())
            if not text:
                await self._cashier.refund(held)
                raise InvalidInput("No speech was heard in that recording. You were not charged.")
            charged = self._prices.transcription(model, heard.duration or seconds) or price
            await self._cashier.settle(held, charged)
        return text


def _unreadable_speech() -> VeniceError:
    return VeniceError("speech is not Ogg/Opus", user_message="Venice sent audio the bot cannot read.")
