"""Documents sent to the Telegram bot end to end: the real python-telegram-bot Application against
the fake Bot API, the real core, and the fake Venice's text parser."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.telegram_support import ALICE, MB, texts
from tests.e2e.test_telegram_media import balance
from tests.fakes import document_samples
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def test_a_document_with_a_question_is_read_answered_and_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    data = document_samples.docx("Minutes of 3 May", "Budget approved: 40,000 EUR.")
    venice.script.append(ChatScript(content="The budget is 40,000 EUR.", cost_usd=0.002))
    async with start_bot():
        before = await balance(tg, ALICE)
        tg.push_document(
            data, chat_id=ALICE, file_name="minutes.docx", mime_type=DOCX, caption="What budget?"
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        answer = texts(tg, ALICE)[-1]
        after = await balance(tg, ALICE)
    assert answer.startswith("📄 minutes.docx · ") and answer.endswith("The budget is 40,000 EUR.")
    [parsed] = venice.calls_to("/augment/text-parser")
    assert parsed.files["file"].data == data and parsed.files["file"].filename == "minutes.docx"
    asked = venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert "Budget approved: 40,000 EUR." in asked and asked.endswith("Question: What budget?")
    assert before.startswith("Balance: $1.00\n") and after.startswith("Balance: $0.988\n")
    # and its text embedded for recall in follow-ups (a few tokens: $0.00), charged just after the
    # answer arrived, so /balance may come before it
    assert re.search(r"Spent this period: document \$0\.01, chat \$0\.002(, memory \$0\.00)?$", after), after


async def test_a_document_over_max_document_mb_is_refused_before_download(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(max_document_mb=10):
        tg.push_document(
            document_samples.pdf("big"),
            chat_id=ALICE,
            file_name="big.pdf",
            mime_type="application/pdf",
            file_size=12 * MB,  # what Telegram states; the bytes are never fetched
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert texts(tg, ALICE)[0] == (
        "⚠️ That document is 12.0 MB; the bot reads documents of up to 10 MB. Send a smaller file, "
        "or the part you want to ask about."
    )
    assert tg.calls_to("getFile") == [] and venice.calls_to("/augment/text-parser") == []


async def test_an_unsupported_file_is_refused_with_the_supported_types(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_document(
            b"MZ\x90\x00", chat_id=ALICE, file_name="setup.exe", mime_type="application/x-msdownload"
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    refusal = texts(tg, ALICE)[0]
    assert refusal.startswith("⚠️ The bot cannot read setup.exe. It reads PDF, Word (DOCX)")
    assert venice.calls_to("/augment/text-parser") == [] and venice.calls_to("/chat/completions") == []
