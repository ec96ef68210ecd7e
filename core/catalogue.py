"""Venice's models as this bot offers them: online ones (private ones only, when so set),
the chat's model, a model that can see, the voices, and suggestions for autocompletes."""

from __future__ import annotations

import logging

from core.characters.binding import Binding
from core.errors import BotError, ConfigurationError, InvalidInput
from core.events import Notice
from core.ports.records import ChatSettings
from core.settings import Settings
from core.venice.client import VeniceClient
from core.venice.types import ModelInfo

FALLBACK_CONTEXT = 8192  # when Venice does not list the model, assume a small context
SUMMARY_MIN_CONTEXT = 16_384  # a summary request carries a few thousand tokens of turns

log = logging.getLogger(__name__)


class Catalogue:
    """What the bot offers of Venice's model list, with the settings that filter it."""

    def __init__(self, settings: Settings, venice: VeniceClient) -> None:
        self._settings = settings
        self._venice = venice

    async def models_of(self, kind: str) -> tuple[ModelInfo, ...]:
        """Venice's models of one type that are online (and private, with PRIVATE_MODELS_ONLY)."""
        private = self._settings.private_models_only
        return tuple(
            m
            for m in await self._venice.models(kind)
            if not m.offline and (not private or m.privacy == "private")
        )

    async def suggest(self, name: str, current: str) -> list[tuple[str, str]]:
        """Autocomplete suggestions ``(label, value)`` for adapters that offer them."""
        current = current.lower()
        try:
            if name == "image_styles":
                values = [(s, s) for s in await self._venice.image_styles()]
            elif name == "voices":
                values = [
                    (f"{voice} ({model.id})", voice)
                    for model in await self.models_of("tts")
                    for voice in voices_of(model)
                ]
            else:
                kind = {"image_models": "image", "video_models": "video", "music_models": "music"}.get(
                    name, "text"
                )
                values = [(f"{m.id} — {m.name}", m.id) for m in await self.models_of(kind)]
        except BotError:
            return []
        return [(label[:100], value) for label, value in values if current in label.lower()][:25]

    @staticmethod
    def voices_of(model: ModelInfo) -> tuple[str, ...]:
        """The voices a TTS model lists."""
        return voices_of(model)

    async def vision_model(self, current: ModelInfo) -> tuple[ModelInfo, list[Notice]]:
        """A model that can see images: the chat's own, or a switch to one (a setting)."""
        if current.supports_vision:
            return current, []
        if not self._settings.vision_auto_switch:
            raise InvalidInput(
                f"{current.id} cannot see images. Pick a vision model with /model, or send the "
                "question as text."
            )
        models = await self.models_of("text")
        wanted = self._settings.vision_model
        found = [m for m in models if m.supports_vision]
        pick = (
            next((m for m in found if m.id == wanted), None)
            or next((m for m in found if "default_vision" in m.traits), None)
            or (found[0] if found else None)
        )
        if pick is None:
            raise InvalidInput("Venice lists no model that can see images right now.")
        return pick, [Notice(f"{current.id} cannot see images, so {pick.id} answered this one.")]

    async def chat_model(
        self, chat: ChatSettings, binding: Binding | None = None
    ) -> tuple[ModelInfo, list[Notice]]:
        """The chat's model (a bound character's own first) as Venice lists it, falling back to
        the default with a notice."""
        if binding is not None and binding.model:
            info = await self._venice.model(binding.model)
            if info is not None:
                return info, []
        wanted = chat.model or self._settings.default_chat_model
        info = await self._venice.model(wanted)
        if info is not None and self._settings.private_models_only and info.privacy != "private":
            if wanted == self._settings.default_chat_model:
                raise InvalidInput(
                    f"{wanted} is not a private model, and this bot uses only private "
                    "ones. An admin should set DEFAULT_CHAT_MODEL to a private model."
                )
            info, notices = await self.chat_model(ChatSettings(), None)
            return info, [
                Notice(
                    f"{wanted} is not private; this bot uses only private models, so "
                    f"{info.id} answered. Pick another with /model.",
                    "warning",
                ),
                *notices,
            ]
        if info is not None:
            return info, []
        notices = []
        if chat.model and chat.model != self._settings.default_chat_model:
            notices.append(
                Notice(
                    f"Model {chat.model} is no longer offered; using "
                    f"{self._settings.default_chat_model}. Pick another with /model.",
                    "warning",
                )
            )
            info = await self._venice.model(self._settings.default_chat_model)
        if info is None:
            wanted = self._settings.default_chat_model
            info = ModelInfo(id=wanted, type="text", name=wanted, context_length=FALLBACK_CONTEXT)
        return info, notices

    async def summary_model(self, chat_model: ModelInfo) -> ModelInfo:
        """The model that writes running summaries: ``SUMMARY_MODEL``, else the cheapest capable
        private text model Venice lists, else the chat's own model."""
        models = await self.models_of("text")
        wanted = self._settings.summary_model
        if wanted:
            found = next((m for m in models if m.id == wanted), None)
            if found is not None:
                return found
            log.warning(
                "SUMMARY_MODEL %s is not offered (or not private); summarizing with %s", wanted, chat_model.id
            )
            return chat_model
        capable = [
            m
            for m in models
            if m.privacy == "private"
            and m.context_length >= SUMMARY_MIN_CONTEXT
            and m.input_usd_per_mtok is not None
            and m.output_usd_per_mtok is not None
        ]
        if not capable:
            return chat_model
        # A summary reads a few thousand tokens and writes a few hundred: weigh the prices so.
        return min(
            capable, key=lambda m: (10 * (m.input_usd_per_mtok or 0) + (m.output_usd_per_mtok or 0), m.id)
        )

    async def embedding_model(self) -> ModelInfo:
        """The model for recall's embeddings: EMBEDDING_MODEL when Venice lists it, else the
        cheapest embedding model by input price (a private one first, when any is private)."""
        models = await self.models_of("embedding")
        wanted = self._settings.embedding_model
        if wanted:
            found = next((m for m in models if m.id == wanted), None)
            if found is None:
                offered = ", ".join(m.id for m in models) or "none"
                raise ConfigurationError(
                    f"EMBEDDING_MODEL is {wanted}, which Venice does not offer"
                    f"{' as a private model' if self._settings.private_models_only else ''} now "
                    f"(embedding models: {offered}). An admin should change or unset it."
                )
            return found
        if not models:
            raise InvalidInput("Venice lists no embedding model right now, so nothing can be remembered.")
        return min(
            models,
            key=lambda m: (
                m.privacy != "private",
                m.input_usd_per_mtok if m.input_usd_per_mtok is not None else float("inf"),
                m.id,
            ),
        )


def voices_of(model: ModelInfo) -> tuple[str, ...]:
    """The voices a TTS model lists."""
    spec = model.raw.get("model_spec") if model.raw else None
    voices = spec.get("voices") if isinstance(spec, dict) else None
    return tuple(str(v) for v in voices) if isinstance(voices, list) else ()
