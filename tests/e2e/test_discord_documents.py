"""Documents sent to the Discord bot end to end: the real discord.py against the fake Discord, the
real core, and the fake Venice's text parser."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_discord_media import bot_messages
from tests.fakes import document_samples
from tests.fakes.discord import FakeDiscord
from tests.fakes.venice import ChatScript, FakeVenice

MB = 1 << 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_a_spreadsheet_with_a_question_is_read_answered_and_charged(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    sheet = document_samples.xlsx([["month", "sales"], ["May", 1200], ["June", 1500]])
    venice.script.append(ChatScript(content="June sold most: 1500.", cost_usd=0.002))
    async with start_discord():
        dc.send_message(dm, alice, "Which month sold most?", attachments=[("sales.xlsx", sheet, XLSX)])
        await dc.wait_for(lambda: any("1500." in m["content"] for m in bot_messages(dc, dm)), timeout=10)
        dc.send_message(dm, alice, "/balance")
        await dc.wait_for(lambda: len(bot_messages(dc, dm)) == 2, timeout=10)
    answer, balance = bot_messages(dc, dm)
    assert answer["content"].startswith("> 📄 sales.xlsx · ")
    [parsed] = venice.calls_to("/augment/text-parser")
    assert parsed.files["file"].data == sheet and parsed.files["file"].content_type == XLSX
    asked = venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert "June\t1500" in asked and asked.endswith("Question: Which month sold most?")
    assert "Spent this period: document $0.01, chat $0.002" in balance["content"]


async def test_an_oversized_document_is_refused_before_download_and_an_archive_as_unreadable(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    async with start_discord(max_document_mb=2):
        big = ("big.pdf", document_samples.pdf("x"), "application/pdf", {"size": 3 * MB})
        dc.send_message(dm, alice, "Summarise", attachments=[big])
        await dc.wait_for(lambda: len(bot_messages(dc, dm)) == 1, timeout=10)
        dc.send_message(dm, alice, "", attachments=[("photos.zip", b"PK\x03\x04", "application/zip")])
        await dc.wait_for(lambda: len(bot_messages(dc, dm)) == 2, timeout=10)
    too_big, unreadable = (m["content"] for m in bot_messages(dc, dm))
    assert "That document is 3.0 MB; the bot reads documents of up to 2 MB." in too_big
    assert "The bot cannot read photos.zip. It reads PDF, Word (DOCX)" in unreadable
    assert len(dc.downloads) == 1  # the archive (refused once read); the big file never was
    assert venice.calls_to("/augment/text-parser") == [] and venice.calls_to("/chat/completions") == []
