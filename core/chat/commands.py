"""The commands of the foundation: help, reset, model, websearch, scrape, system, memory, settings."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from core.chat.memory import MIN_BUDGET, window_start
from core.commands import Arg, ArgType, Audience, Command, CommandContext, help_text
from core.errors import BotError, InvalidInput
from core.events import Choice, Reply, ReplyStream
from core.ports.records import ChatSettings
from core.privacy.commands import kept_for
from core.text import plural

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from core.addressing import Addressing
    from core.catalogue import Catalogue
    from core.characters.binding import CharacterService
    from core.chat.memory import Memory
    from core.commands import CommandRegistry
    from core.events import IncomingMessage
    from core.ports.storage import ChatSettingsStore, ConversationStore
    from core.settings import Settings
    from core.turns import TurnQueue

MAX_SYSTEM_PROMPT = 4000


class ChatCommands:
    """Handlers that read and change a chat's conversation and settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CommandRegistry,
        regenerate: Callable[[IncomingMessage], Awaitable[ReplyStream]],
        chat_settings: ChatSettingsStore,
        conversations: ConversationStore,
        addressing: Addressing,
        turns: TurnQueue,
        characters: CharacterService,
        catalogue: Catalogue,
        memory: Memory,
    ) -> None:
        self._settings = settings
        self._memory = memory
        self._registry = registry
        self._regenerate = regenerate
        self._chat_settings = chat_settings
        self._conversations = conversations
        self._addressing = addressing
        self._turns = turns
        self._characters = characters
        self._catalogue = catalogue

    async def _chat(self, ctx: CommandContext) -> ChatSettings:
        """The settings of the caller's chat."""
        return await self._chat_settings.get(ctx.message.platform, ctx.message.chat_id)

    async def _change(self, ctx: CommandContext, what: str, **changes: Any) -> None:
        """Change the caller's chat settings, if the caller may."""
        ctx.require_chat_admin(what)
        msg = ctx.message
        await self._chat_settings.update(msg.platform, msg.chat_id, **changes)

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command("help", "Show what the bot can do", self.help, audience=Audience.ASKER),
            Command(
                "reset",
                "Start a new conversation (the old one is kept, not used)",
                self.reset,
                audience=Audience.ACTION,
            ),
            Command(
                "retry",
                "Answer the last message again, replacing the last answer",
                self.retry,
                audience=Audience.ACTION,
            ),
            Command(
                "model",
                "Show the chat's model and the choices, or switch model",
                self.model,
                (Arg("name", "Model id", autocomplete="models"),),
            ),
            Command(
                "websearch",
                "Web search for answers: off, on, or auto (the model decides)",
                self.websearch,
                (Arg("mode", "off, on or auto", choices=("off", "on", "auto")),),
            ),
            Command(
                "scrape",
                "Read up to 3 links in a message before answering: on or off",
                self.scrape,
                (Arg("mode", "on or off", choices=("on", "off")),),
            ),
            Command(
                "system",
                "Show or set this chat's system prompt ('default' restores the bot's)",
                self.system,
                (Arg("prompt", "The new system prompt", ArgType.TEXT),),
            ),
            Command(
                "memory",
                "What the bot remembers here; shared or per-user, budget N, recall on|off",
                self.memory,
                (
                    Arg(
                        "setting",
                        "shared or per-user (group chats), budget, or recall",
                        choices=("shared", "per-user", "budget", "recall"),
                    ),
                    Arg("value", "for budget: tokens or 'default'; for recall: on or off"),
                ),
            ),
            Command("settings", "Show this chat's settings", self.settings, audience=Audience.ASKER),
        ]

    async def help(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """List the commands this user may run."""
        return Reply(help_text(self._registry.visible_to(ctx)))

    async def reset(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Retire the conversation; the next message starts afresh."""
        key = await self._addressing.conversation_key(ctx.message)
        async with self._turns.take(key):  # after the answers already asked for
            if key.ephemeral:  # what it remembered lives in this process only: gone with it
                self._memory.recall.drop((await self._conversations.active(key)).id)
            await self._conversations.reset(key)
        return Reply("Started a new conversation. Earlier messages will not be used.")

    async def retry(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Regenerate the last answer."""
        return await self._regenerate(ctx.message)

    async def model(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show the model list, or switch the chat's model."""
        models = list(await self._catalogue.models_of("text"))  # only private ones, if so set
        chat = await self._chat(ctx)
        current = chat.model or self._settings.default_chat_model
        name = args.get("name")
        if not name:
            lines = [f"Current model: {current}", "Available text models:"]
            for m in models:
                mark = "•" if m.id == current else "-"
                extras = [f"{m.context_length // 1000}k context"]
                if m.privacy:
                    extras.append(m.privacy)
                if m.supports_vision:
                    extras.append("vision")
                if m.supports_web_search:
                    extras.append("web search")
                lines.append(f"{mark} {m.id} ({', '.join(extras)})")
            if self._settings.private_models_only:
                lines.append("Only private models are offered (Venice keeps no data of them).")
            lines.append("Switch with /model <name>.")
            choices = tuple(Choice(m.id, f"/model {m.id}") for m in models)
            return Reply("\n".join(lines), choices=choices)
        by_id = {m.id.lower(): m for m in models}
        chosen = by_id.get(name.lower())
        if chosen is None:
            close = difflib.get_close_matches(name.lower(), list(by_id), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(by_id[c].id for c in close)}?" if close else ""
            raise InvalidInput(f"There is no text model named {name!r}.{hint} Send /model to see the list.")
        await self._change(ctx, "change the model", model=chosen.id)
        return Reply(f"Model set to {chosen.id} for this chat.")

    async def websearch(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set web search, and say when the chat's model cannot search."""
        mode = args.get("mode")
        if mode is None:
            chat = await self._chat(ctx)
            gap = await self._search_gap(chat)
            return Reply(f"Web search is {chat.web_search}{gap}. Change it with /websearch off|on|auto.")
        await self._change(ctx, "change web search", web_search=mode)
        gap = await self._search_gap(await self._chat(ctx))
        if gap:
            return Reply(f"Web search is now {mode}{gap}.")
        explain = {
            "off": "Answers use the model's own knowledge.",
            "on": "Every answer searches the web and lists its sources.",
            "auto": "The model searches the web when a question needs it and lists its sources.",
        }[mode]
        return Reply(f"Web search is now {mode}. {explain}")

    async def _search_gap(self, chat: ChatSettings) -> str:
        """ ", but <model> cannot search the web; …" when search is on and the chat's model
        (a bound character's own first) cannot search; "" otherwise."""
        if chat.web_search == "off":
            return ""
        try:
            binding = await self._characters.binding(chat)
            model, _ = await self._catalogue.chat_model(chat, binding)
            if model.supports_web_search or not model.raw:  # unknown to Venice: it may search
                return ""
            if binding is not None and binding.model == model.id:
                return (
                    f", but {binding.name} talks with {model.id}, which cannot search the web, "
                    "so answers here do not search"
                )
            able = [m.id for m in await self._catalogue.models_of("text") if m.supports_web_search]
        except BotError:  # Venice cannot be asked now: nothing certain to warn about
            return ""
        which = f" ({', '.join(able)})" if able else ""
        return (
            f", but {model.id} cannot search the web, so answers here do not search; "
            f"pick one that can with /model{which}"
        )

    async def scrape(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set link reading."""
        mode = args.get("mode")
        if mode is None:
            state = "on" if (await self._chat(ctx)).web_scraping else "off"
            return Reply(f"Reading links is {state}. Change it with /scrape on|off.")
        await self._change(ctx, "change link reading", web_scraping=mode == "on")
        return Reply(f"Reading links is now {mode}.")

    async def system(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set the chat's system prompt."""
        prompt = args.get("prompt")
        if prompt is None:
            chat = await self._chat(ctx)
            if chat.system_prompt:
                return Reply(f"This chat's system prompt:\n{chat.system_prompt}")
            return Reply(
                f"This chat uses the bot's default system prompt:\n{self._settings.default_system_prompt}"
            )
        if prompt.lower() == "default":
            await self._change(ctx, "change the system prompt", system_prompt=None)
            return Reply("This chat uses the bot's default system prompt again.")
        if len(prompt) > MAX_SYSTEM_PROMPT:
            raise InvalidInput(
                f"The system prompt is {len(prompt):,} characters; the limit is {MAX_SYSTEM_PROMPT:,}."
            )
        await self._change(ctx, "change the system prompt", system_prompt=prompt)
        return Reply("System prompt set for this chat. It applies from the next message.")

    async def memory(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show what this chat's conversation remembers, or set how it remembers."""
        setting, value = args.get("setting"), str(args.get("value") or "").strip().lower()
        if setting is None:
            return Reply(await self._remembered(ctx))
        if setting == "budget":
            return await self._memory_budget(ctx, value)
        if setting == "recall":
            if value not in ("on", "off"):
                raise InvalidInput("Use /memory recall on or /memory recall off.")
            if value == "on" and not self._memory.recall.enabled:
                raise InvalidInput("Long-term recall is turned off for this bot by its operator.")
            await self._change(ctx, "turn long-term recall on or off", recall=value == "on")
            return Reply(
                "Long-term recall is on: earlier messages that matter come back into the conversation."
                if value == "on"
                else "Long-term recall is off here: only the recent turns and the summary are used."
            )
        if ctx.message.is_direct:
            return Reply("A direct chat always has one conversation; shared or per-user is for group chats.")
        await self._change(ctx, "change how memory is kept", per_user_memory=setting == "per-user")
        return Reply(
            "Each user now has their own conversation here."
            if setting == "per-user"
            else "Everyone here now shares one conversation."
        )

    async def _memory_budget(self, ctx: CommandContext, value: str) -> Reply:
        """Set how many tokens of recent turns go word for word into each prompt."""
        most = self._memory.history_budget_max
        if value == "default":
            await self._change(ctx, "change the memory budget", history_budget=None)
            return Reply(f"Memory budget: the bot's default again ({self._memory.history_budget:,} tokens).")
        try:
            tokens = int(value.replace(",", "").replace("_", ""))
        except ValueError:
            raise InvalidInput(
                f"Use /memory budget N with N tokens from {MIN_BUDGET:,} to {most:,}, or /memory budget default."
            ) from None
        if not MIN_BUDGET <= tokens <= most:
            raise InvalidInput(f"The memory budget can be from {MIN_BUDGET:,} to {most:,} tokens here.")
        await self._change(ctx, "change the memory budget", history_budget=tokens)
        return Reply(
            f"Memory budget: up to {tokens:,} tokens of recent turns go word for word with each message "
            "(more costs more per message; older turns are summarized and recalled)."
        )

    async def _remembered(self, ctx: CommandContext) -> str:
        """What the caller's conversation here remembers, and how to change it."""
        chat = await self._chat(ctx)
        memory = self._memory
        conversation = await self._conversations.active(await self._addressing.conversation_key(ctx.message))
        budget = memory.budget_of(chat)
        messages = await memory.unsummarized(conversation, budget)
        verbatim = len(messages) - window_start(messages, budget, memory.FOLD_TO)
        own = "this chat's" if chat.history_budget is not None else "the bot's default"
        lines = []
        if not ctx.message.is_direct:
            mode = "per-user" if chat.per_user_memory else "shared"
            lines.append(f"Memory in this chat is {mode} (/memory shared|per-user).")
        lines.append(
            f"Recent turns, word for word: {plural(verbatim, 'message')}, up to {budget:,} tokens "
            f"({own}; /memory budget N, at most {memory.history_budget_max:,})."
        )
        if not memory.recall.enabled:
            lines.append("Long-term recall: off for this bot.")
        else:
            stats = await memory.recall.stats(conversation)
            what = plural(stats.messages, "earlier message")
            if stats.documents:
                what += f" and {plural(stats.documents, 'document')}"
            state = "on" if chat.recall else "off (/memory recall on)"
            lines.append(f"Long-term recall: {state}; {what} can be recalled.")
        if conversation.summary:
            summary = conversation.summary
            lines.append(
                "Summary of older turns:\n" + (summary[:1500] + "…" if len(summary) > 1500 else summary)
            )
        else:
            lines.append("No summary yet: nothing has been folded.")
        if conversation.in_memory:
            lines.append("Ephemeral mode: all of it is kept in memory only, never written to disk.")
        lines.append("/reset starts a new conversation; /forget deletes what you said.")
        return "\n".join(lines)

    async def _character_name(self, chat: ChatSettings) -> str:
        try:
            binding = await self._characters.binding(chat)
        except BotError:
            return "(Venice cannot be asked right now)"
        return binding.name if binding else "none (the bot itself)"

    async def settings(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show everything this chat has set."""
        chat = await self._chat(ctx)
        conversation = await self._conversations.active(await self._addressing.conversation_key(ctx.message))
        stored = await self._conversations.count_messages(conversation)
        default = self._settings.message_retention_days
        days = default if chat.retention_days is None else chat.retention_days
        prompt = chat.system_prompt or "(the bot's default)"
        if len(prompt) > 200:
            prompt = prompt[:200] + "…"
        lines = [
            f"Model: {chat.model or self._settings.default_chat_model}"
            + ("" if chat.model else " (default)"),
            f"Web search: {chat.web_search}{await self._search_gap(chat)}",
            f"Reading links: {'on' if chat.web_scraping else 'off'}",
            f"Memory: {'per-user' if chat.per_user_memory else 'shared'}; recent turns up to "
            f"{self._memory.budget_of(chat):,} tokens; long-term recall "
            + ("on" if self._memory.recalls(chat) else "off")
            + " (/memory)",
            f"System prompt: {prompt}",
            f"Character: {await self._character_name(chat)}",
            f"Voice replies: {chat.voice_mode}; safe mode: {'on' if chat.safe_mode else 'off'}",
            "Tools: "
            + ("on" if (self._settings.tools_default if chat.tools is None else chat.tools) else "off")
            + f" (/tools); time zone: {chat.timezone or 'UTC'}",
            "Ephemeral mode: "
            + ("on (this chat's conversation is kept in memory only)" if chat.ephemeral else "off"),
            f"Messages are kept {kept_for(days)}"
            + (" (the bot's default)" if chat.retention_days is None else ""),
            f"This conversation: {plural(stored, 'message')} "
            + ("in memory only, lost when the bot restarts" if conversation.in_memory else "stored")
            + (", with a summary of older turns" if conversation.summary else ""),
        ]
        return Reply("\n".join(lines))
