"""Characters bound to chats: Venice's public characters and the bot's own personas."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.characters.cards import Persona
from core.errors import BotError, InvalidInput
from core.events import IncomingMessage, Speaker
from core.ports.records import ChatSettings
from core.ports.storage import PersonaStore
from core.venice.errors import NotFound
from core.venice.types import Character

if TYPE_CHECKING:
    from core.venice.client import VeniceClient

CHARACTER_CACHE_SECONDS = 600.0
SEARCH_CACHE_SECONDS = 60.0
VENICE = "venice:"
PERSONA = "persona:"


@dataclass(frozen=True)
class Binding:
    """What speaks in a chat: a Venice character (by slug) or a persona, and what it brings."""

    key: str  # "venice:<slug>" or "persona:<id>": its conversations are its own
    name: str
    speaker: Speaker
    slug: str | None = None  # Venice characters: sent as venice_parameters.character_slug
    persona: Persona | None = None
    model: str | None = None
    voice: str | None = None
    adult: bool = False


class CharacterService:
    """Find, describe, bind and clear characters; tell the chat what is bound to it."""

    def __init__(self, venice: VeniceClient, personas: PersonaStore) -> None:
        self._venice = venice
        self.personas = personas
        self._characters: dict[str, tuple[float, Character]] = {}
        self._searches: dict[str, tuple[float, tuple[Character, ...]]] = {}  # autocomplete, per prefix

    async def venice_character(self, slug: str) -> Character:
        """A Venice character by slug, cached; a clear message when Venice does not know it."""
        cached = self._characters.get(slug)
        if cached and time.monotonic() - cached[0] < CHARACTER_CACHE_SECONDS:
            return cached[1]
        try:
            character = await self._venice.character(slug)
        except NotFound:
            raise InvalidInput(
                f"Venice has no character {slug!r}. Find one with /character search."
            ) from None
        self._characters[slug] = (time.monotonic(), character)
        return character

    async def binding(self, chat: ChatSettings) -> Binding | None:
        """What the chat's character setting points to (None: the plain assistant)."""
        bound = chat.character
        if not bound:
            return None
        if bound.startswith(PERSONA):
            persona = await self.personas.get(int(bound[len(PERSONA) :]))
            if persona is None:  # deleted since: the chat falls back to the assistant
                return None
            return Binding(
                bound,
                persona.name,
                Speaker(persona.name, persona.avatar_url),
                persona=persona,
                model=persona.model,
                voice=persona.voice,
            )
        slug = bound[len(VENICE) :]
        character = await self.venice_character(slug)
        return Binding(
            bound,
            character.name,
            Speaker(character.name, character.photo_url),
            slug=slug,
            model=character.model_id,
            adult=character.adult,
        )

    async def find(self, name: str) -> Binding:
        """A persona by name, else a Venice character by slug."""
        persona = await self.personas.by_name(name)
        if persona is not None:
            return Binding(
                f"{PERSONA}{persona.id}",
                persona.name,
                Speaker(persona.name, persona.avatar_url),
                persona=persona,
                model=persona.model,
                voice=persona.voice,
            )
        slug = name.strip().lower()
        character = await self.venice_character(slug)
        return Binding(
            f"{VENICE}{slug}",
            character.name,
            Speaker(character.name, character.photo_url),
            slug=slug,
            model=character.model_id,
            adult=character.adult,
        )

    @staticmethod
    def adult_allowed(message: IncomingMessage, chat: ChatSettings) -> bool:
        """Adult characters only where the chat is marked adult (NSFW channel, or safe mode off)."""
        return message.nsfw if message.nsfw is not None else not chat.safe_mode

    async def suggest(self, current: str) -> list[tuple[str, str]]:
        """Autocomplete: personas and Venice characters whose name matches."""
        current = current.strip().lower()
        found = [
            (f"{p.name} (persona)", p.name) for p in await self.personas.all() if current in p.name.lower()
        ]
        cached = self._searches.get(current)
        if cached and time.monotonic() - cached[0] < SEARCH_CACHE_SECONDS:
            characters = cached[1]
        else:  # autocomplete asks at every keystroke: a short cache spares Venice the repeats
            try:
                characters = await self._venice.characters(search=current or None, limit=25)
            except BotError:
                characters = ()
            if len(self._searches) > 512:
                self._searches.clear()
            self._searches[current] = (time.monotonic(), characters)
        found += [(f"{c.name}{' 🔞' if c.adult else ''}", c.slug) for c in characters]
        return [(label[:100], value[:100]) for label, value in found][:25]

    def greeting(self, binding: Binding, user: str) -> str:
        """What a character says when it arrives."""
        if binding.persona is not None and binding.persona.greeting.strip():
            return binding.persona.fill(binding.persona.greeting.strip(), user)
        if binding.persona is not None:
            return f"*{binding.name} is here.*"
        cached = self._characters.get(binding.slug or "")
        description = cached[1].description if cached else ""
        return f"*{binding.name} is here.*" + (f"\n{description}" if description else "")
