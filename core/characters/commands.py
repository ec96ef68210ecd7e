"""/character (Venice's characters and personas, bound per chat) and /persona (bot admins' own)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from core.catalogue import voices_of
from core.characters.binding import Binding
from core.characters.cards import MAX_CARD_BYTES, Persona, parse_card
from core.commands import Arg, ArgType, Command, CommandContext, FileArg
from core.errors import InvalidInput, PermissionDenied
from core.events import Choice, Reply
from core.text import clip, plural

if TYPE_CHECKING:
    from core.addressing import Addressing
    from core.catalogue import Catalogue
    from core.characters.binding import CharacterService
    from core.chat.memory import Memory
    from core.ports.storage import ChatSettingsStore, ConversationStore
    from core.settings import Settings
    from core.venice.client import VeniceClient

MAX_RESULTS = 40  # search results offered as buttons (adapters page them)
LISTED = 10  # of them, described in the text
PERSONA_OPTIONS = {
    "prompt": "system_prompt",
    "greeting": "greeting",
    "example": "example_dialogue",
    "avatar": "avatar_url",
    "voice": "voice",
    "model": "model",
}


class CharacterCommands:
    """Handlers for characters and personas."""

    def __init__(
        self,
        settings: Settings,
        *,
        characters: CharacterService,
        chat_settings: ChatSettingsStore,
        conversations: ConversationStore,
        addressing: Addressing,
        memory: Memory,
        venice: VeniceClient,
        catalogue: Catalogue,
    ) -> None:
        self._settings = settings
        self._characters = characters
        self._chat_settings = chat_settings
        self._conversations = conversations
        self._addressing = addressing
        self._memory = memory
        self._venice = venice
        self._catalogue = catalogue

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command(
                "character",
                "Find Venice characters, or bind one (or a persona) to this chat",
                self.character,
                (
                    Arg(
                        "action",
                        "search, info, set, clear, or greeting (another opening)",
                        choices=("search", "info", "set", "clear", "greeting"),
                    ),
                    Arg(
                        "query",
                        "Search text, a character's slug, or a persona's name",
                        ArgType.TEXT,
                        autocomplete="characters",
                    ),
                ),
                private_actions=("search", "info"),
            ),
            Command(
                "persona",
                "The bot's own characters: list, show; admins: create, edit, delete, import a card",
                self.persona,
                (
                    Arg(
                        "action",
                        "list, show, create, edit, delete or import",
                        choices=("list", "show", "create", "edit", "delete", "import"),
                    ),
                    Arg("name", "The persona's name", ArgType.TEXT),
                    Arg(
                        "prompt",
                        "System prompt ({{char}} and {{user}} are filled in)",
                        ArgType.TEXT,
                        option=True,
                    ),
                    Arg("greeting", "What it says when it arrives", ArgType.TEXT, option=True),
                    Arg("example", "Example dialogue", ArgType.TEXT, option=True),
                    Arg("avatar", "Picture URL (https)", option=True),
                    Arg("voice", "Voice for voice replies", option=True, autocomplete="voices"),
                    Arg("model", "Model it talks with", option=True, autocomplete="models"),
                ),
                file=FileArg(
                    "card",
                    "A character card: its JSON, or a PNG with the card inside",
                    ("file", "document", "image"),
                    MAX_CARD_BYTES,
                    action="import",
                ),
                private_actions=("list", "show"),
            ),
        ]

    # ----- /character

    async def character(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Search, describe, bind or clear."""
        action, query = args.get("action"), (args.get("query") or "").strip()
        if action is None:
            return await self._current(ctx)
        if action == "search":
            return await self._search(ctx, query)
        if action == "clear":
            return await self._clear(ctx)
        if action == "greeting":
            return await self._next_greeting(ctx)
        if not query:
            raise InvalidInput(
                f"/character {action} needs a character: its slug (from /character search) "
                "or a persona's name."
            )
        if action == "info":
            return await self._info(query)
        return await self.bind(ctx, query)

    async def _current(self, ctx: CommandContext) -> Reply:
        chat = await self._chat(ctx)
        binding = await self._characters.binding(chat)
        if binding is None:
            return Reply(
                "No character is bound here; the bot answers as itself. Find one with "
                "/character search <text>, or see /persona list."
            )
        return Reply(f"{binding.name} speaks in this chat. /character clear sends it away.")

    async def _search(self, ctx: CommandContext, query: str) -> Reply:
        characters = await self._venice.characters(search=query or None, limit=MAX_RESULTS)
        personas = [p for p in await self._characters.personas.all() if query.lower() in p.name.lower()]
        if not characters and not personas:
            return Reply(f"No character matches {query!r}. Try another word, or a tag like #detective.")
        chat = await self._chat(ctx)
        adult_ok = self._characters.adult_allowed(ctx.message, chat)
        # Adult characters that cannot be used here are neither listed nor offered, only counted.
        usable = [c for c in characters if adult_ok or not c.adult]
        hidden = len(characters) - len(usable)
        if not usable and not personas:
            verb = "matches" if hidden == 1 else "match"
            return Reply(
                f"Only {plural(hidden, 'adult character')} {verb}{f' {query!r}' if query else ''}, "
                f"and adult characters can only be used in {_adult_place(ctx)}."
            )
        lines = [f"Characters matching {query!r}:" if query else "Characters:"]
        choices = [Choice(f"🎭 {p.name}", f"/character set {p.name}") for p in personas]
        choices += [Choice(c.name, f"/character set {c.slug}") for c in usable]
        for p in personas[:LISTED]:
            lines.append(
                f"• {p.name} (persona) — {clip(p.description or p.system_prompt, 90, one_line=True)}"
            )
        for c in usable[: max(0, LISTED - len(personas))]:
            tags = f" [{', '.join(c.tags[:3])}]" if c.tags else ""
            lines.append(
                f"• {c.name}{' 🔞' if c.adult else ''} ({c.slug}){tags} — {clip(c.description, 90, one_line=True)}"
            )
        more = len(choices) - (len(lines) - 1)  # offered as buttons but not described above
        if more > 0:
            lines.append(f"…and {more} more: see the buttons.")
        if hidden:
            lines.append(
                f"🔞 {plural(hidden, 'adult character')} hidden here: they can only be used in "
                f"{_adult_place(ctx)}."
            )
        lines.append("Press one to bind it to this chat, or /character info <slug>.")
        return Reply("\n".join(lines), choices=tuple(choices))

    async def _info(self, query: str) -> Reply:
        persona = await self._characters.personas.by_name(query)
        if persona is not None:
            return Reply(
                _describe_persona(persona), choices=(Choice("Use it here", f"/character set {persona.name}"),)
            )
        c = await self._characters.venice_character(query.lower())
        lines = [f"{c.name}{' 🔞 adult' if c.adult else ''} ({c.slug})", c.description or "(no description)"]
        if c.tags:
            lines.append("Tags: " + ", ".join(c.tags))
        if c.model_id:
            lines.append(f"Model: {c.model_id}" + (" · searches the web" if c.web_enabled else ""))
        return Reply("\n".join(lines), choices=(Choice("Use it here", f"/character set {c.slug}"),))

    async def bind(self, ctx: CommandContext, name: str) -> Reply:
        """Bind a character to the chat; its greeting opens a new conversation, or the old one resumes."""
        ctx.require_chat_admin("choose this chat's character")
        message = ctx.message
        binding = await self._characters.find(name)
        chat = await self._chat(ctx)
        if binding.adult and not self._characters.adult_allowed(message, chat):
            raise InvalidInput(
                f"{binding.name} is an adult character: it can only be used in {_adult_place(ctx)}."
            )
        await self._chat_settings.update(message.platform, message.chat_id, character=binding.key)
        return await self._greet(ctx, binding)

    async def _greet(self, ctx: CommandContext, binding: Binding) -> Reply:
        key = await self._addressing.conversation_key(ctx.message)
        conversation = await self._conversations.active(key)
        greeting = self._characters.greeting(binding, ctx.message.user_name or "you")
        tokens = self._memory.calibration.estimate(self._settings.default_chat_model, greeting)
        if await self._conversations.save_greeting(conversation, greeting, tokens):
            return Reply(greeting, speaker=binding.speaker, choices=_another(binding))
        return Reply(f"{binding.name} is back; your conversation with it continues.")

    async def _next_greeting(self, ctx: CommandContext) -> Reply:
        """Open the scene with the card's next greeting instead (before anyone has spoken)."""
        ctx.require_chat_admin("change how the scene opens")
        binding = await self._characters.binding(await self._chat(ctx))
        persona = binding.persona if binding else None
        if binding is None or persona is None or not persona.alternate_greetings:
            raise InvalidInput("The character here has no other greetings.")
        user = ctx.message.user_name or "you"
        openings = [
            persona.fill(g.strip(), user)
            for g in (persona.greeting, *persona.alternate_greetings)
            if g.strip()
        ]
        conversation = await self._conversations.active(await self._addressing.conversation_key(ctx.message))
        current = await self._conversations.newest(conversation, 1 << 62)
        shown = current[0].content if len(current) == 1 else ""
        following = (
            openings[(openings.index(shown) + 1) % len(openings)] if shown in openings else openings[0]
        )
        tokens = self._memory.calibration.estimate(self._settings.default_chat_model, following)
        if not await self._conversations.replace_opening(conversation, following, tokens):
            raise InvalidInput(
                "The scene has started already: another greeting only replaces the first "
                "one before anyone has spoken. /reset starts a new scene."
            )
        return Reply(following, speaker=binding.speaker, choices=_another(binding))

    async def _clear(self, ctx: CommandContext) -> Reply:
        ctx.require_chat_admin("send this chat's character away")
        chat = await self._chat(ctx)
        binding = await self._characters.binding(chat)
        await self._chat_settings.update(ctx.message.platform, ctx.message.chat_id, character=None)
        if binding is None:
            return Reply("No character was bound here.")
        return Reply(
            f"{binding.name} has left. The bot answers as itself again (its earlier conversation "
            f"here continues); /character set {binding.slug or binding.name} brings it back."
        )

    # ----- /persona

    async def persona(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """List and show personas; bot admins create, edit, delete and import them."""
        action = args.get("action") or "list"
        name = (args.get("name") or "").strip()
        store = self._characters.personas
        if action == "list":
            personas = await store.all()
            if not personas:
                return Reply(
                    "There are no personas yet. Bot admins: /persona create <name> --prompt …, "
                    "or /persona import with a character card attached."
                )
            return Reply(
                "Personas:\n"
                + "\n".join(
                    f"• {p.name} — {clip(p.description or p.system_prompt, 80, one_line=True)}"
                    for p in personas
                ),
                choices=tuple(Choice(p.name, f"/character set {p.name}") for p in personas),
            )
        if action not in ("show", "list") and not ctx.is_bot_admin:
            raise PermissionDenied("Only the bot's admins can create, change or import personas.")
        if action == "import":
            return await self._import(ctx)
        if not name:
            example = "Ada --prompt You are Ada, a patient maths tutor." if action == "create" else "Ada"
            raise InvalidInput(
                f"/persona {action} needs the persona's name. Example: /persona {action} {example}"
            )
        options = {PERSONA_OPTIONS[k]: v for k, v in args.items() if k in PERSONA_OPTIONS and v is not None}
        if "avatar_url" in options and not str(options["avatar_url"]).startswith("https://"):
            raise InvalidInput("The avatar must be an https:// link to a picture.")
        if "voice" in options:
            await self._check_voice(str(options["voice"]))
        if action == "create":
            if not options.get("system_prompt") and not options.get("greeting"):
                raise InvalidInput("Give the persona at least a --prompt (who it is and how it talks).")
            created = await store.create(Persona(name=name[:100], **options), actor=_actor(ctx))
            return Reply(f"Persona {created.name} created. /character set {created.name} binds it to a chat.")
        persona = await store.by_name(name)
        if persona is None:
            raise InvalidInput(f"There is no persona {name!r}. See /persona list.")
        if action == "show":
            return Reply(_describe_persona(persona))
        if action == "delete":
            await store.delete(persona.id or 0)
            return Reply(f"Persona {persona.name} deleted. Chats it was bound to get the plain bot back.")
        if not options:
            raise InvalidInput("Say what to change, e.g. /persona edit Ada --greeting Hello!")
        await store.update(dataclasses.replace(persona, **options))
        return Reply(f"Persona {persona.name} updated: {', '.join(k for k in args if k in PERSONA_OPTIONS)}.")

    async def _import(self, ctx: CommandContext) -> Reply:
        files = [a for a in ctx.message.attachments if a.kind in ("file", "document", "image")]
        if not files:
            raise InvalidInput(
                "Attach the character card (its JSON, or the PNG with the card inside) to /persona import."
            )
        persona = parse_card(files[0].data)
        created = await self._characters.personas.create(persona, actor=_actor(ctx))
        extra = (
            f" It has {plural(len(persona.alternate_greetings), 'other greeting')}."
            if persona.alternate_greetings
            else ""
        )
        return Reply(
            f"Imported {created.name}.{extra} /character set {created.name} binds it to a chat.",
            choices=(Choice(f"Use {created.name} here", f"/character set {created.name}"),),
        )

    async def _check_voice(self, voice: str) -> None:
        models = await self._catalogue.models_of("tts")
        if not any(voice in voices_of(m) for m in models):
            raise InvalidInput(f"There is no voice {voice!r}. See /voice for the voices.")

    async def _chat(self, ctx: CommandContext) -> Any:
        return await self._chat_settings.get(ctx.message.platform, ctx.message.chat_id)


def _another(binding: Binding) -> tuple[Choice, ...]:
    """A button for the card's other greetings, when it has some."""
    if binding.persona is not None and binding.persona.alternate_greetings:
        return (Choice("🔁 Another greeting", "/character greeting"),)
    return ()


def _describe_persona(p: Persona) -> str:
    lines = [f"{p.name} (persona)"]
    for label, value in (
        ("Prompt", p.system_prompt),
        ("Description", p.description),
        ("Personality", p.personality),
        ("Scenario", p.scenario),
        ("Greeting", p.greeting),
        ("Example dialogue", p.example_dialogue),
    ):
        if value:
            lines.append(f"{label}: {clip(value, 300, one_line=True)}")
    for label, setting in (("Voice", p.voice), ("Model", p.model), ("Avatar", p.avatar_url)):
        if setting:
            lines.append(f"{label}: {setting}")
    return "\n".join(lines)


def _adult_place(ctx: CommandContext) -> str:
    """Where adult characters may be used, on this platform."""
    if ctx.message.nsfw is not None:
        return "an age-restricted (NSFW) channel"
    return "a chat marked adult (a chat admin sends /safemode off)"


def _actor(ctx: CommandContext) -> str:
    return f"{ctx.message.platform}:{ctx.message.user_id}"
