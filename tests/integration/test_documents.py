"""Documents through the core against the fake Venice: read with the text parser, answered,
stored by name, charged; every refusal before Venice where it can be, and refunded where not."""

from __future__ import annotations

from typing import Any

import pytest

from core.chat.documents import DEFAULT_QUESTION
from core.errors import InvalidInput
from core.events import Attachment
from core.venice.errors import BadRequest, VeniceError
from tests.fakes import document_samples
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask, message, stored_messages

USER = {"platform": "telegram", "user_id": "7"}  # not an admin: pays from the ledger
FULL = 1_000_000  # the default allowance, $1.00, in micro-USD
READING = 10_000  # $0.01 a document, Venice's price
OFFICE = "application/vnd.openxmlformats-officedocument"
PDF = "application/pdf"
DOCX = f"{OFFICE}.wordprocessingml.document"


def document(data: bytes, filename: str, mime: str) -> Attachment:
    return Attachment("document", mime, data, filename=filename)


def plan_pdf() -> Attachment:
    return document(document_samples.pdf("Project plan", "The deadline is 12 March."), "plan.pdf", PDF)


async def ledger(service: Any) -> tuple[int, list[tuple[str, str | None, int]]]:
    """The balance, and what was charged (feature, amount), oldest first."""
    await service.wait_idle()
    owner = await service.account_of(message("", **USER))
    actions = await service.store.ledger.activity(owner, limit=100)
    charged = [(a.feature, -a.amount) for a in reversed(actions) if a.status == "charged"]
    return await service.store.ledger.balance(owner), charged


def last_user_message(venice: FakeVenice) -> str:
    return str(venice.calls_to("/chat/completions")[-1].body["messages"][-1]["content"])


# ----- the fake parser, through the client


@pytest.mark.parametrize(
    ("data", "filename", "mime", "text"),
    [
        (document_samples.pdf("Line (one)", "Line two"), "a.pdf", PDF, "Line (one)\nLine two"),
        (document_samples.docx("First", "Second"), "a.docx", DOCX, "First\nSecond"),
        (
            document_samples.pptx("Slide A", "Slide B"),
            "a.pptx",
            f"{OFFICE}.presentationml.presentation",
            "Slide A\n\nSlide B",
        ),
        (
            document_samples.xlsx([["name", "age"], ["Ada", 36]]),
            "a.xlsx",
            f"{OFFICE}.spreadsheetml.sheet",
            "name\tage\nAda\t36",
        ),
        ("Grüße\n".encode(), "notes.txt", "text/plain", "Grüße\n"),
    ],
)
async def test_the_parser_reads_each_format_and_charges_venices_price(
    make_service: Any, venice: FakeVenice, data: bytes, filename: str, mime: str, text: str
) -> None:
    before = venice.balance["balances"]["usd"]
    async with make_service() as service:
        parsed = await service.venice.parse_document(data, filename=filename, mime_type=mime)
    assert parsed.text == text and parsed.tokens > 0
    assert venice.balance["balances"]["usd"] == pytest.approx(before - 0.01)
    upload = venice.calls_to("/augment/text-parser")[0]
    assert upload.files["file"].filename == filename and upload.body["response_format"] == "json"
    assert venice.spec_errors == []


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"not a zip", "broken.docx"), (b"%PDF-1.4 cut off", "cut.pdf"), (b"PK\x03\x04junk", "files.zip")],
)
async def test_the_parser_refuses_a_damaged_or_unsupported_file_with_a_400(
    make_service: Any, venice: FakeVenice, data: bytes, filename: str
) -> None:
    before = venice.balance["balances"]["usd"]
    async with make_service() as service:
        with pytest.raises(BadRequest):
            await service.venice.parse_document(data, filename=filename, mime_type="application/octet-stream")
    assert venice.balance["balances"]["usd"] == before


# ----- a document answered


async def test_a_document_is_read_answered_stored_by_name_and_both_are_charged(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="The deadline is 12 March.", cost_usd=0.002))
    async with make_service() as service:
        answer = await ask(service, "When is the deadline?", attachments=(plan_pdf(),), **USER)
        assert answer.text.startswith("> 📄 plan.pdf · ")
        assert answer.text.endswith("The deadline is 12 March.")
        sent = last_user_message(venice)
        assert sent.startswith("The user sent the document plan.pdf:\n<document>\nProject plan\n")
        assert sent.endswith("</document>\n\nQuestion: When is the deadline?")
        tokens = venice.calls_to("/augment/text-parser")  # read once
        assert len(tokens) == 1
        stored = [content for _, role, content, _ in await stored_messages(service) if role == "user"]
        assert stored == [f"[document: plan.pdf, {answer_tokens(answer.text)} tokens] When is the deadline?"]
        balance, charges = await ledger(service)
        # Its text is embedded for recall in follow-ups: a few tokens at the embedding model's price.
        (memory,) = [amount for feature, amount in charges if feature == "memory"]
        assert charges == [("document", READING), ("chat", 2_000), ("memory", memory)] and 0 < memory < 100
        assert balance == FULL - READING - 2_000 - memory
        activity = (await ask(service, "/usage", **USER)).text
        assert "document read" in activity
    assert venice.spec_errors == []


def answer_tokens(text: str) -> str:
    """The token count the preface shows ("> 📄 plan.pdf · 12 tokens")."""
    return text.split(" · ", 1)[1].split(" tokens", 1)[0]


async def test_a_document_without_a_question_is_summarised_and_the_follow_up_has_no_text(
    make_service: Any, venice: FakeVenice
) -> None:
    report = document(document_samples.docx("Sales rose 12% in May."), "report.docx", DOCX)
    async with make_service() as service:
        await ask(service, "", attachments=(report,), **USER)
        assert last_user_message(venice).endswith(f"Question: {DEFAULT_QUESTION}")
        await ask(service, "Thanks!", **USER)
        history = venice.calls_to("/chat/completions")[-1].body["messages"]
    # The next turn carries the stored marker, not the document: memory recalls the text.
    asked = [str(m["content"]) for m in history if m["role"] == "user"]
    assert asked[0].startswith("[document: report.docx, ") and "Sales rose" not in asked[0]


async def test_a_follow_up_question_recalls_the_documents_passage_and_the_embedding_is_paid(
    make_service: Any, venice: FakeVenice
) -> None:
    filler = " ".join(f"Section {n} describes the office plants and the coffee machine." for n in range(40))
    text = f"{filler} The warranty of the boiler ends on 30 June 2031. {filler}"
    manual = document(text.encode(), "manual.txt", "text/plain")
    async with make_service() as service:
        await ask(service, "Summarise it", attachments=(manual,), **USER)
        await ask(service, "When does the boiler warranty end?", **USER)
        _, charges = await ledger(service)
    follow_up = venice.calls_to("/chat/completions")[-1].body["messages"]
    recalled = [
        str(m["content"]) for m in follow_up if m["role"] == "system" and "(manual.txt)" in str(m["content"])
    ]
    assert recalled and "30 June 2031" in recalled[0]
    assert "Section 39" not in follow_up[-1]["content"]  # the text itself is not sent again
    assert [f for f, _ in charges].count("memory") == 1  # the document embedded once


async def test_only_the_first_of_several_documents_is_read_and_the_answer_says_so(
    make_service: Any, venice: FakeVenice
) -> None:
    notes = document(b"second file", "notes.txt", "text/plain")
    async with make_service() as service:
        answer = await ask(service, "Compare", attachments=(plan_pdf(), notes), **USER)
    assert "1 other not read" in answer.text.splitlines()[0]
    assert len(venice.calls_to("/augment/text-parser")) == 1


# ----- refusals


async def test_an_oversized_document_is_refused_from_its_stated_size(make_service: Any) -> None:
    async with make_service(max_document_mb=5) as service:
        with pytest.raises(InvalidInput, match=r"That document is 6\.0 MB; .*up to 5 MB"):
            service.uploads.check_download("document", 6 * 1024 * 1024, None)
        service.uploads.check_download("document", 5 * 1024 * 1024, None)  # at the limit: taken


async def test_an_unsupported_file_is_refused_with_the_supported_types_and_nothing_is_sent(
    make_service: Any, venice: FakeVenice
) -> None:
    archive = Attachment("file", "application/zip", b"PK\x03\x04", filename="photos.zip")
    async with make_service() as service:
        for text in ("", "What is in here?"):
            with pytest.raises(InvalidInput, match=r"cannot read photos\.zip\. It reads PDF, Word \(DOCX\)"):
                await ask(service, text, attachments=(archive,), **USER)
        balance, _ = await ledger(service)
    assert balance == FULL
    assert venice.calls_to("/augment/text-parser") == [] and venice.calls_to("/chat/completions") == []


async def test_a_damaged_document_is_a_friendly_refusal_and_the_reading_is_refunded(
    make_service: Any, venice: FakeVenice
) -> None:
    broken = document(b"this is not a zip", "broken.docx", DOCX)
    async with make_service() as service:
        with pytest.raises(InvalidInput) as info:
            await ask(service, "Summarise", attachments=(broken,), **USER)
        assert "could not read broken.docx" in info.value.user_message
        assert info.value.user_message.endswith("You were not charged.")
        balance, charges = await ledger(service)
    assert balance == FULL and charges == []
    assert venice.calls_to("/chat/completions") == []


async def test_a_document_with_no_text_is_refunded(make_service: Any, venice: FakeVenice) -> None:
    scanned = document(document_samples.pdf(), "scan.pdf", PDF)
    async with make_service() as service:
        with pytest.raises(InvalidInput, match="There is no text in scan.pdf.*not charged"):
            await ask(service, "", attachments=(scanned,), **USER)
        balance, _ = await ledger(service)
    assert balance == FULL
    assert venice.calls_to("/chat/completions") == []


async def test_a_document_over_max_document_tokens_is_refused_after_reading_and_no_answer_is_charged(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.document_tokens = 60_000
    async with make_service() as service:
        with pytest.raises(InvalidInput) as info:
            await ask(service, "Summarise", attachments=(plan_pdf(),), **USER)
        said = info.value.user_message
        assert "plan.pdf is 60,000 tokens long" in said and "up to 50,000 tokens" in said
        assert "Reading it cost $0.01; nothing else was charged." in said
        balance, charges = await ledger(service)
    assert charges == [("document", READING)] and balance == FULL - READING
    assert venice.calls_to("/chat/completions") == []


async def test_a_text_file_surely_over_max_document_tokens_is_refused_before_venice(
    make_service: Any, venice: FakeVenice
) -> None:
    long_text = document(("word " * 400).encode(), "notes.md", "text/markdown")  # 2,000 bytes
    async with make_service(max_document_tokens=100) as service:  # 1,600 bytes could not hold less
        with pytest.raises(InvalidInput) as info:
            await ask(service, "Summarise", attachments=(long_text,), **USER)
        balance, _ = await ledger(service)
    assert info.value.user_message == (
        "notes.md is about 500 tokens long; the bot answers about documents of up to 100 tokens. "
        "Send a shorter part of it. You were not charged."
    )
    assert balance == FULL and venice.calls_to("/augment/text-parser") == []


async def test_a_document_larger_than_the_models_context_is_refused_before_the_answer(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.document_tokens = 1_000  # Venice's count; the bot measures the text it sends itself
    long_text = document(("word " * 40_000).encode(), "long.txt", "text/plain")  # ~50k tokens
    async with make_service(max_document_tokens=100_000) as service:
        with pytest.raises(InvalidInput) as info:
            await ask(service, "Summarise", attachments=(long_text,), **USER)
        said = info.value.user_message
        assert "more than venice-uncensored can take" in said
        assert said.endswith("The answer was not charged; reading long.txt cost $0.01.")
        balance, _ = await ledger(service)
    assert balance == FULL - READING
    assert venice.calls_to("/chat/completions") == []


async def test_venice_failing_during_the_answer_refunds_the_answer_and_keeps_the_reading_paid(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.fail("/chat/completions", 500, times=10)
    async with make_service() as service:
        with pytest.raises(VeniceError) as info:
            await ask(service, "When?", attachments=(plan_pdf(),), **USER)
        said = info.value.user_message
        assert "You were not charged" not in said
        assert said.endswith("The answer was not charged; reading plan.pdf cost $0.01.")
        balance, charges = await ledger(service)
        assert await stored_messages(service) == []
    assert charges == [("document", READING)] and balance == FULL - READING
