"""/music: songs, jingles and sound effects from Venice's music models (``GET /models?type=music``).

The same path as /video (``core.media.jobs``): ``POST /audio/quote`` for the price, Make it and
Cancel buttons, ``/audio/queue`` once the user agrees (the quoted price reserved), ``/audio/retrieve``
every ``MUSIC_POLL_SECONDS`` until the file is there, delivered as an audio file, then paid and
``/audio/complete``. What a model takes (durations, lyrics, an instrumental switch, prompt length)
is read from its ``model_spec``; an option it does not take is refused before Venice is asked.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.events import Attachment, IncomingMessage, Reply
from core.media.job_kinds import JobKindInfo
from core.media.jobs import QueuedJobs
from core.money import usd
from core.ports.records import VideoJob
from core.venice.types import ModelInfo

MUSIC = JobKindInfo(
    kind="music",
    family="audio",
    feature="music",
    command="music",
    noun="track",
    making="Composing the track",
    activity="record_voice",
)
_EXTENSIONS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/flac": "flac"}


class MusicJobs(QueuedJobs):
    """Quote, confirm, run and resume music jobs.

    The tool loop offers music from a conversation with ``quote(message, prompt, options)``: it
    returns the offer (price, Make it and Cancel buttons) to show; nothing is made or paid until
    the user presses Make it.
    """

    info = MUSIC

    async def model(self, wanted: str | None) -> ModelInfo:
        """The music model asked for, configured, or the first Venice lists."""
        found = await self._catalogue.models_of("music")
        wanted = wanted or self.settings.default_music_model
        for model in found:
            if wanted is None or model.id.lower() == wanted.lower():
                return model
        names = ", ".join(m.id for m in found) or "none right now"
        raise InvalidInput(f"There is no music model {wanted!r}. Music models: {names}.")

    async def quote(self, message: IncomingMessage, prompt: str, options: dict[str, Any]) -> Reply:
        """Ask Venice for the price and offer the track with Make it and Cancel buttons.

        ``options``: ``model``, ``duration`` (seconds), ``lyrics``, ``instrumental`` ("on"/"off").
        """
        model = await self.model(options.get("model"))
        spec: dict[str, Any] = (model.raw or {}).get("model_spec") or {}
        body: dict[str, Any] = {"model": model.id}
        _check_length("prompt", prompt, spec.get("min_prompt_length"), spec.get("prompt_character_limit"))
        seconds = _duration(model.id, spec, options.get("duration"))
        if seconds is not None:
            body["duration_seconds"] = seconds
        lyrics = str(options.get("lyrics") or "").strip()
        if lyrics:
            if not spec.get("supports_lyrics"):
                raise InvalidInput(f"{model.id} does not take lyrics.")
            _check_length("lyrics", lyrics, None, spec.get("lyrics_character_limit"))
            body["lyrics_prompt"] = lyrics
        elif spec.get("lyrics_required"):
            raise InvalidInput(f"{model.id} needs lyrics: add --lyrics with the words to sing.")
        instrumental = options.get("instrumental")
        if instrumental is not None:
            if not spec.get("supports_force_instrumental"):
                raise InvalidInput(f"{model.id} does not take --instrumental.")
            body["force_instrumental"] = str(instrumental).lower() in ("on", "true", "yes", "1")
        quote_body = {k: v for k, v in body.items() if k in ("model", "duration_seconds")}
        if "per_thousand_characters" in (spec.get("pricing") or {}):
            quote_body["character_count"] = max(1, len(prompt) + len(lyrics))
        price = await self.price(quote_body)
        length = f"{seconds}-second " if seconds else ""
        text = f"🎵 A {length}track with {model.id} costs {usd(price)}."
        return await self.offer(message, body, prompt, price, text)

    def poll_waits(self) -> tuple[float, float]:
        """Every ``MUSIC_POLL_SECONDS``: a track is sent within seconds of Venice finishing it."""
        return self.settings.music_poll_seconds, self.settings.music_poll_seconds

    def timeout_seconds(self) -> float:
        """``MUSIC_TIMEOUT_SECONDS``."""
        return self.settings.music_timeout_seconds

    def result(self, job: VideoJob, data: bytes, mime_type: str) -> Reply:
        """The track as an audio file, captioned with its prompt."""
        extension = _EXTENSIONS.get(mime_type, "mp3")
        attachment = Attachment("audio", mime_type, data, filename=f"venice-music.{extension}")
        return Reply(text=f"🎵 {self.prompt_of(job)[:900]}", attachments=(attachment,))


def _check_length(what: str, text: str, least: Any, most: Any) -> None:
    if isinstance(most, (int, float)) and len(text) > most:
        raise InvalidInput(f"The {what} is {len(text):,} characters; this model takes up to {int(most):,}.")
    if isinstance(least, (int, float)) and len(text.strip()) < least:
        raise InvalidInput(f"The {what} is too short: this model needs at least {int(least):,} characters.")


def _duration(model_id: str, spec: dict[str, Any], asked: Any) -> int | None:
    """The length to ask for, in whole seconds: the one asked (if the model takes it), else the
    model's default; None for a model without durations (it picks its own)."""
    options = [int(v) for v in spec.get("duration_options") or () if isinstance(v, (int, float))]
    least, most = spec.get("min_duration"), spec.get("max_duration")
    if asked is None or str(asked).strip() == "":
        default = spec.get("default_duration")
        return int(default) if isinstance(default, (int, float)) else (options[0] if options else None)
    try:
        seconds = int(str(asked).strip().lower().removesuffix("s"))
    except ValueError:
        raise InvalidInput(f"--duration is a number of seconds, e.g. 30; not {asked}.") from None
    if options and seconds not in options:
        raise InvalidInput(f"{model_id} takes --duration {' | '.join(map(str, options))}; not {seconds}.")
    if not options and least is None and most is None and "default_duration" not in spec:
        raise InvalidInput(f"{model_id} chooses its own length; leave out --duration.")
    if (isinstance(least, (int, float)) and seconds < least) or (
        isinstance(most, (int, float)) and seconds > most
    ):
        raise InvalidInput(
            f"{model_id} makes {int(least or 1)} to {int(most or seconds)} seconds; not {seconds}."
        )
    return seconds
