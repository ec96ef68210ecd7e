"""Cut-outs, combinations, animated pictures and YouTube transcripts on Discord end to end: the real
discord.py against the fake Discord (REST + gateway over real sockets), the real core, and the fake
Venice's background removal, multi-edit, image-to-video and video transcription endpoints."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from tests.e2e.test_discord_media import answered, bot_messages, files_of, server
from tests.fakes.discord import FakeDiscord
from tests.fakes.media_samples import png
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_media_more import MULTI_EDIT_MODEL

VIDEO = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


async def balance(dc: FakeDiscord, dm: int, alice: int) -> str:
    """What /balance tells alice in her DM now."""
    before = len(bot_messages(dc, dm))
    dc.send_message(dm, alice, "/balance")
    await dc.wait_for(lambda: len(bot_messages(dc, dm)) == before + 1, timeout=10)
    return str(bot_messages(dc, dm)[-1]["content"])


async def test_cutout_as_a_slash_command_answers_a_transparent_png_attachment_and_charges(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    async with start_discord():
        assert {"cutout", "transcript", "video", "edit"} <= {c["name"] for c in dc.synced_commands()}
        cut = dc.send_slash(dm, alice, "cutout", {"image": ("p.png", png(320, 240))})
        response = await answered(dc, cut.id, files=1)
        spent = await balance(dc, dm, alice)
    assert response["content"].startswith("✂️ Background removed") and not response["flags"] & 64
    assert response["attachments"][0]["filename"] == "cutout.png"
    with Image.open(io.BytesIO(files_of(dc, response)[0])) as picture:
        assert picture.format == "PNG" and picture.mode == "RGBA"
        assert picture.getpixel((0, 0))[3] == 0 and picture.getpixel((160, 120))[3] == 255
    assert "Spent this period: cutout $0.03" in spent


async def test_no_picture_and_a_link_that_is_not_youtube_are_refused_before_any_charge(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        cut = dc.send_slash(channel, alice, "cutout", {})
        refused_cut = await answered(dc, cut.id)
        transcript = dc.send_slash(channel, alice, "transcript", {"url": "https://vimeo.com/123456"})
        refused_link = await answered(dc, transcript.id)
    assert "Attach an image to /cutout, or reply to an image with /cutout." in refused_cut["content"]
    assert "Venice transcribes YouTube videos only" in refused_link["content"]
    assert venice.calls_to("/image/background-remove") == venice.calls_to("/video/transcriptions") == []


async def test_several_attachments_or_a_reply_plus_one_are_combined_by_multi_edit(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    first, second, third = (png(320, 240, seed=n) for n in range(3))
    async with start_discord():
        dc.send_message(
            channel,
            alice,
            f"<@{dc.bot_id}> /edit make one scene of both",
            attachments=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
        )
        await dc.wait_for(
            lambda: len([m for m in bot_messages(dc, channel) if m["attachments"]]) == 1, timeout=10
        )
        base = dc.send_message(channel, alice, "the base", attachments=[("c.png", third, "image/png")])
        dc.send_message(
            channel,
            alice,
            f"<@{dc.bot_id}> /edit add the cat to it",
            attachments=[("a.png", first, "image/png")],
            reply_to=int(base["id"]),
        )
        await dc.wait_for(
            lambda: len([m for m in bot_messages(dc, channel) if m["attachments"]]) == 2, timeout=10
        )
    both, replied = venice.calls_to("/image/multi-edit")
    assert both.body["modelId"] == replied.body["modelId"] == MULTI_EDIT_MODEL
    assert [base64.b64decode(i.split(",", 1)[1]) for i in both.body["images"]] == [first, second]
    assert [base64.b64decode(i.split(",", 1)[1]) for i in replied.body["images"]] == [
        third,
        first,
    ]  # base first
    combined = [m for m in bot_messages(dc, channel) if m["attachments"]]
    assert combined[0]["content"].startswith("🖌️ make one scene of both (2 pictures combined)")
    with Image.open(io.BytesIO(files_of(dc, combined[1])[0])) as picture:
        assert picture.size == (320, 240)


async def test_video_with_an_image_animates_it_and_a_failed_queue_is_refunded(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    picture = png(320, 240)
    async with start_discord(video_poll_seconds=1):
        for attempt in ("fails", "works"):
            quote = dc.send_slash(
                dm, alice, "video", {"prompt": "the sea moves", "image": ("p.png", picture)}
            )
            offer = await answered(dc, quote.id)
            assert offer["content"].startswith(
                "🎬 Animating your picture: a 5s video with wan-2-7-image-to-video"
            )
            buttons = {b["label"]: b["custom_id"] for row in offer["components"] for b in row["components"]}
            if attempt == "fails":
                venice.fail("/video/queue", 500)
            dc.send_component(
                dm, alice, int(offer["id"]), next(c for label, c in buttons.items() if "$" in label)
            )
            if attempt == "fails":
                await dc.wait_for(
                    lambda: any("not charged" in m["content"] for m in bot_messages(dc, dm)), timeout=10
                )
                assert "video" not in await balance(dc, dm, alice)
        await dc.wait_for(
            lambda: any(
                a["filename"].endswith(".mp4") for m in bot_messages(dc, dm) for a in m["attachments"]
            ),
            timeout=15,
        )
        spent = await balance(dc, dm, alice)
    _failed, queued = venice.calls_to("/video/queue")
    assert queued.body["model"] == "wan-2-7-image-to-video"
    assert queued.body["image_url"] == "data:image/png;base64," + base64.b64encode(picture).decode()
    assert len(venice.video_jobs) == 1  # the failed one was never made
    assert "Spent this period: video $0.40" in spent


async def test_transcript_answers_from_the_video_and_a_failed_one_is_refunded(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    venice.script.append(ChatScript(content="It is about sourdough.", cost_usd=0.002))
    async with start_discord():
        venice.fail("/video/transcriptions", 500)
        failed = dc.send_slash(dm, alice, "transcript", {"url": VIDEO})
        refused = await answered(dc, failed.id)
        asked = dc.send_slash(dm, alice, "transcript", {"url": VIDEO, "question": "What is it about?"})
        await dc.wait_for(lambda: "sourdough." in str(dc.interaction(asked.id).original), timeout=10)
        spent = await balance(dc, dm, alice)
    assert "not charged" in refused["content"]
    answer = dc.interaction(asked.id).original
    assert answer is not None and answer["content"].startswith(f"> 📄 the transcript of {VIDEO} · ")
    question = venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert "secret ingredient is patience" in question and question.endswith("Question: What is it about?")
    assert "Spent this period: transcript $0.05, chat $0.002" in spent
