"""What is sent to the model for a turn: the user's message as stored and sent, the system
prompt, Venice's parameters, and pictures as content parts."""

from __future__ import annotations

from core import images
from core.characters.binding import Binding
from core.chat.memory import Memory
from core.events import Attachment, IncomingMessage, Notice
from core.ports.records import ChatSettings, Conversation
from core.settings import Settings
from core.text import clean_text, find_urls
from core.venice.types import ChatMessage, ModelInfo, VeniceParameters

MAX_SCRAPED_LINKS = 3


def question_text(message: IncomingMessage, text: str, *, shared: bool) -> str:
    """The user turn as stored and sent: quoted reply and speaker name where they help."""
    question = text
    if message.reply_to and message.reply_to.text.strip():
        quoted = "\n".join("> " + line for line in clean_text(message.reply_to.text)[:1000].splitlines())
        question = f"{quoted}\n\n{question}"
    if shared and message.user_name:
        question = f"[{clean_text(message.user_name)[:64]}] {question}"
    return question


def system_prompt(
    settings: Settings,
    memory: Memory,
    chat: ChatSettings,
    binding: Binding | None,
    message: IncomingMessage,
    model: ModelInfo,
    conversation: Conversation,
    question_tokens: int,
) -> str:
    """The chat's system prompt, or the bound persona's; its example dialogue is the first
    thing left out when the history would no longer fit beside it."""
    original = chat.system_prompt or settings.default_system_prompt
    if binding is None:
        return original
    if binding.persona is None:
        return chat.system_prompt or ""  # Venice brings the character's own prompt
    user = message.user_name or "User"
    full = binding.persona.system(user, original=original)
    if not binding.persona.example_dialogue:
        return full
    example = memory.calibration.estimate(model.id, binding.persona.example_text())
    room = memory.window_budget(model, full, conversation.summary_tokens) - question_tokens
    # Tight: the example would take over a quarter of the window, or push history out.
    window = model.context_length - memory.reply_budget(model)
    if example <= window // 4 and room >= min(conversation.unsummarized_tokens, memory.budget_of(chat)):
        return full
    return binding.persona.system(user, original=original, with_example=False)


def venice_parameters(
    settings: Settings, chat: ChatSettings, model: ModelInfo, question: str
) -> tuple[VeniceParameters, list[Notice]]:
    """Venice's own parameters for this question: web search, citations, reading links."""
    notices: list[Notice] = []
    search = chat.web_search
    if search != "off" and not model.supports_web_search and model.raw:
        notices.append(Notice(f"{model.id} cannot search the web; answering without it.", "info"))
        search = "off"
    urls = find_urls(question) if chat.web_scraping else []
    scrape = 0 < len(urls) <= MAX_SCRAPED_LINKS
    if len(urls) > MAX_SCRAPED_LINKS:
        notices.append(
            Notice(
                f"Your message has {len(urls)} links; the bot reads at most "
                f"{MAX_SCRAPED_LINKS}, so it read none. Send up to {MAX_SCRAPED_LINKS} to have them read.",
                "info",
            )
        )
    params = VeniceParameters(
        include_venice_system_prompt=settings.include_venice_system_prompt,
        enable_web_search=search,
        enable_web_citations=search != "off",
        enable_web_scraping=scrape,
    )
    return params, notices


def checked_pictures(message: IncomingMessage) -> tuple[Attachment, ...]:
    """The message's images, each refused before anything is queued or paid if Venice would."""
    pictures = tuple(a for a in message.attachments if a.kind == "image")
    for picture in pictures:
        images.check_upload(picture.data)
    return pictures


def with_images(question: str, pictures: tuple[Attachment, ...]) -> ChatMessage:
    """The user's message with its images as data URLs (Venice's vision content parts)."""
    parts: list[dict[str, object]] = [{"type": "text", "text": question}]
    for picture in pictures:
        parts.append(
            {"type": "image_url", "image_url": {"url": images.data_url(picture.data, picture.mime_type)}}
        )
    return {"role": "user", "content": parts}
