"""``/audio/quote|queue|retrieve|complete`` of the fake Venice: music and sound effects, queued.

``AudioEndpoints`` is mixed into ``FakeVenice`` (over ``MediaEndpoints``, whose balance, payment
check and refusals it shares). A job is made of the models in ``venice_music_models``: the quote
follows the model's pricing (per second, per generation, duration tiers, per thousand
characters), the queue checks every option against the model's ``model_spec`` as Venice does (a
400 for what the model does not take), and the file is a real MP3 (or WAV) of the asked length.

What tests change (plain attributes): ``music_polls_until_done`` (retrieves answered PROCESSING
before the file is ready; ``None``: never ready), ``music_fail_job`` (500, 503 or 422: jobs queued
from now on fail at retrieve), and ``music_jobs`` itself (queue id -> ``MusicJob``).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from tests.fakes import media_samples
from tests.fakes.venice_errors import CONTENT_POLICY, default_error_body, field_error
from tests.fakes.venice_media import MediaEndpoints, _fields, _flag, _mentions, _Refusal

if TYPE_CHECKING:
    from tests.fakes.venice import Call

__all__ = ["AudioEndpoints", "MusicJob"]

MUSIC_AVERAGE_EXECUTION_MS = 20_000


@dataclass
class MusicJob:
    """A queued music generation, as ``fake.music_jobs`` keeps it."""

    queue_id: str
    model: str
    prompt: str
    seconds: int
    format: str  # mp3 or wav: the model's default format
    quote_usd: float
    body: dict[str, Any]  # the queue request as sent
    fail_status: int | None = None
    queued_at: float = field(default_factory=time.monotonic)
    polls: int = 0  # POST /audio/retrieve calls so far
    delivered: bool = False  # the file has been sent at least once
    completed: bool = False  # /audio/complete (or delete_media_on_completion): retrieve is a 404 now
    refunded: bool = False


class AudioEndpoints(MediaEndpoints):
    """Venice's queued audio endpoints for the fake."""

    def _init_audio(self) -> None:
        """Set the audio state to its defaults (called from FakeVenice.__init__)."""
        self.music_polls_until_done: int | None = 2  # None: a job never finishes
        self.music_fail_job: int | None = None  # 500, 503 or 422: jobs queued from now on fail at retrieve
        self.music_jobs: dict[str, MusicJob] = {}

    def _audio_routes(self) -> list[tuple[str, str, Any]]:
        """Return (method, path template, handler) for the queued audio endpoints."""
        return [
            ("POST", "/audio/quote", self._guarded(self._audio_quote)),
            ("POST", "/audio/queue", self._guarded(self._audio_queue)),
            ("POST", "/audio/retrieve", self._guarded(self._audio_retrieve)),
            ("POST", "/audio/complete", self._guarded(self._audio_complete)),
        ]

    def _audio_quote(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model"), "music")
        return JSONResponse({"quote": self._music_usd(model, body)}, headers=headers)

    def _audio_queue(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model"), "music")
        spec = model["model_spec"]
        prompt = str(body.get("prompt", ""))
        if len(prompt) > spec.get("prompt_character_limit", 10_000):
            raise _Refusal(400, field_error("prompt", "The prompt is longer than the model takes"))
        if len(prompt.strip()) < spec.get("min_prompt_length", 1):
            raise _Refusal(400, field_error("prompt", "The prompt is shorter than the model needs"))
        for name, flag in (
            ("lyrics_prompt", "supports_lyrics"),
            ("force_instrumental", "supports_force_instrumental"),
            ("loop", "supports_loop"),
            ("language_code", "supports_language_code"),
            ("speed", "supports_speed"),
        ):
            if name in body and not spec.get(flag):
                raise _Refusal(400, field_error(name, f"{model['id']} does not support {name}"))
        if spec.get("lyrics_required") and not body.get("lyrics_prompt"):
            raise _Refusal(400, field_error("lyrics_prompt", f"{model['id']} needs lyrics"))
        lyrics = str(body.get("lyrics_prompt") or "")
        if len(lyrics) > spec.get("lyrics_character_limit", 10_000):
            raise _Refusal(400, field_error("lyrics_prompt", "The lyrics are longer than the model takes"))
        if _mentions(prompt, self.violation_words) or _mentions(lyrics, self.violation_words):
            raise _Refusal(422, dict(CONTENT_POLICY))
        quote_body = {"model": model["id"], "duration_seconds": body.get("duration_seconds")}
        quote_body["character_count"] = len(prompt) + len(lyrics)
        quote = self._music_usd(model, {k: v for k, v in quote_body.items() if v is not None})
        self._check_can_pay()
        job = MusicJob(
            queue_id=str(uuid.uuid4()),
            model=model["id"],
            prompt=prompt,
            seconds=self._music_seconds(model, body),
            format=str(spec.get("default_format", "mp3")),
            quote_usd=quote,
            body=dict(body),
            fail_status=self.music_fail_job,
        )
        self.music_jobs[job.queue_id] = job
        self._spend(quote)
        return JSONResponse(
            {"model": job.model, "queue_id": job.queue_id, "status": "QUEUED"},
            headers=self._model_headers(model, headers),
        )

    def _audio_retrieve(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        job = self._music_job(body)
        job.polls += 1
        if self.music_polls_until_done is None or job.polls <= self.music_polls_until_done:
            return JSONResponse(
                {
                    "status": "PROCESSING",
                    "average_execution_time": MUSIC_AVERAGE_EXECUTION_MS,
                    "execution_duration": round((time.monotonic() - job.queued_at) * 1000),
                },
                headers=headers,
            )
        if job.fail_status is not None:
            if job.fail_status == 422:
                if not job.refunded:  # a provider's refusal is refunded at Venice
                    self._spend(-job.quote_usd)
                    job.refunded = True
                raise _Refusal(422, dict(CONTENT_POLICY))
            error = default_error_body(job.fail_status, call.path)
            raise _Refusal(job.fail_status, error if isinstance(error, dict) else {"error": error})
        job.delivered = True
        if _flag(body.get("delete_media_on_completion"), False):
            job.completed = True
        if job.format == "wav":
            return Response(media_samples.wav(job.seconds), headers=headers, media_type="audio/wav")
        return Response(media_samples.mp3(job.seconds), headers=headers, media_type="audio/mpeg")

    def _audio_complete(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        job = self._music_job(_fields(call))
        job.completed = True  # kept in music_jobs so tests can see it happened; retrieve now 404s
        return JSONResponse({"success": True}, headers=headers)

    def _music_job(self, body: dict[str, Any]) -> MusicJob:
        job = self.music_jobs.get(str(body.get("queue_id")))
        if job is None or job.completed:
            raise _Refusal(404, {"error": "Audio generation request not found"})
        if body.get("model") != job.model:
            raise _Refusal(400, field_error("model", f"The request was queued with model {job.model}"))
        return job

    def _music_seconds(self, model: dict[str, Any], body: dict[str, Any]) -> int:
        """The length asked (checked against the model's durations), else the model's default."""
        spec = model["model_spec"]
        asked = body.get("duration_seconds")
        if asked is None:
            return int(spec.get("default_duration", 30))
        seconds = int(asked)
        options = spec.get("duration_options")
        if options and seconds not in options:
            raise _Refusal(400, field_error("duration_seconds", f"Expected one of {options}"))
        least, most = spec.get("min_duration", 1), spec.get("max_duration", 600)
        if not options and not least <= seconds <= most:
            raise _Refusal(400, field_error("duration_seconds", f"Expected {least} to {most} seconds"))
        return seconds

    def _music_usd(self, model: dict[str, Any], body: dict[str, Any]) -> float:
        """What Venice charges for the request, from the model's pricing."""
        pricing = model["model_spec"]["pricing"]
        seconds = self._music_seconds(model, body)
        if "per_thousand_characters" in pricing:
            if not body.get("character_count"):
                raise _Refusal(400, field_error("character_count", "Required for this model"))
            thousands = math.ceil(int(body["character_count"]) / 1000)
            return round(pricing["per_thousand_characters"]["usd"] * thousands, 4)
        if "per_second" in pricing:
            return round(pricing["per_second"]["usd"] * seconds, 4)
        if "durations" in pricing:
            for tier in pricing["durations"].values():
                if tier["min_seconds"] <= seconds <= tier["max_seconds"]:
                    return float(tier["usd"])
            raise _Refusal(400, field_error("duration_seconds", "No price for this length"))
        return float(pricing["generation"]["usd"])
