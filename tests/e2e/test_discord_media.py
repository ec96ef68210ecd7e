"""Media on Discord end to end: the real discord.py against the fake Discord (REST + gateway over real sockets),
the real core, and the fake Venice over HTTP. Voice messages in and out, /imagine, vision, the image context
menus and their form, the /video buttons, and Discord's upload limits; the last test runs /imagine and the
menus on simcord too."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import mutagen.oggopus
import pytest
import simcord
from PIL import Image

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from bots.bootstrap import build_service
from core.events import Attachment, Destination, Reply
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.fakes.discord import FakeDiscord
from tests.fakes.media_samples import mp4_video, ogg_opus, parse_ogg, png
from tests.fakes.venice import ChatScript, FakeVenice

VOICE_FLAG = 1 << 13


def server(dc: FakeDiscord) -> tuple[int, int, int]:
    """A server with #general and alice: (guild, channel, alice)."""
    guild = dc.add_guild("Test")
    alice = dc.add_user("alice")
    dc.add_member(guild, alice)
    return guild, dc.add_channel(guild, "general"), alice


def bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [m for m in dc.messages(channel) if int(m["author"]["id"]) == dc.bot_id and not m["flags"] & 128]


async def file_sent(dc: FakeDiscord, channel: int, suffix: str) -> None:
    """Wait until the bot has posted a file whose name ends with ``suffix`` in the channel."""
    await dc.wait_for(
        lambda: any(
            a["filename"].endswith(suffix) for m in bot_messages(dc, channel) for a in m["attachments"]
        ),
        timeout=15,
    )


def files_of(dc: FakeDiscord, message: dict[str, Any]) -> list[bytes]:
    return [dc.attachment_data(a) for a in message["attachments"]]


def assert_playable_opus(data: bytes) -> float:
    """The bytes are an Ogg/Opus stream that a parser and mutagen accept; return its length in seconds."""
    assert parse_ogg(data)
    return float(mutagen.oggopus.OggOpus(io.BytesIO(data)).info.length)


async def answered(
    dc: FakeDiscord, interaction_id: int, *, files: int = 0, timeout: float = 10.0
) -> dict[str, Any]:
    """The interaction's response once the "thinking…" placeholder is replaced (and carries ``files`` files)."""
    record = dc.interaction(interaction_id)

    def ready() -> bool:
        original = record.original
        return original is not None and not record.deferred and len(original["attachments"]) >= files

    await dc.wait_for(ready, timeout=timeout)
    assert record.original is not None
    return record.original


# ---- voice messages


async def test_a_voice_message_is_transcribed_answered_and_spoken_back_as_a_voice_message(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    venice.transcript = "What is the capital of France?"
    venice.script.append(ChatScript(content="Paris is the capital of France."))
    async with start_discord():
        mode = dc.send_slash(dm, alice, "voicemode", {"mode": "on"})
        assert "Voice replies: on" in (await answered(dc, mode.id))["content"]
        dc.send_voice_message(dm, alice, ogg_opus(2.0), duration=2.0)
        await dc.wait_for(lambda: any(m["flags"] & VOICE_FLAG for m in bot_messages(dc, dm)), timeout=10)
    text, voice = [m for m in bot_messages(dc, dm) if m.get("interaction_metadata") is None]
    quote = text["content"].split("\n", 1)[0]
    assert quote.startswith("> ") and quote.endswith(
        "What is the capital of France?"
    )  # the transcript, quoted
    assert "Paris is the capital of France." in text["content"]
    assert voice["content"] == "" and voice["flags"] == VOICE_FLAG  # a real Discord voice message
    (attachment,) = voice["attachments"]
    audio = dc.attachment_data(attachment)
    length = assert_playable_opus(audio)
    assert attachment["filename"] == "voice-message.ogg" and attachment["content_type"] == "audio/ogg"
    assert attachment["duration_secs"] == pytest.approx(length, abs=0.1)
    assert 0 < len(base64.b64decode(attachment["waveform"])) <= 256
    (transcription,) = venice.calls_to("/audio/transcriptions")
    assert transcription.files["file"].data[:4] == b"OggS"  # the voice message itself went to Venice
    assert dc.calls_to("POST", rf"/channels/{dm}/typing")  # "typing…" while it was heard and answered
    asked = venice.calls_to("/chat/completions")[-1].body["messages"][-1]["content"]
    assert "What is the capital of France?" in str(asked)


async def test_where_discord_refuses_a_voice_message_the_voice_reply_is_an_audio_file(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    dc.refuse_voice_messages = True
    async with start_discord():
        dc.send_message(dm, alice, "/speak Hello there, this is a test.")
        await dc.wait_for(lambda: any(m["attachments"] for m in bot_messages(dc, dm)), timeout=10)
    refused = [
        c
        for c in dc.calls_to("POST", rf"/channels/{dm}/messages")
        if (c.json or {}).get("flags") == VOICE_FLAG
    ]
    assert [c.status for c in refused] == [400]  # tried as a voice message first
    (message,) = [m for m in bot_messages(dc, dm) if m["attachments"]]
    assert not message["flags"] & VOICE_FLAG
    assert message["attachments"][0]["filename"].endswith(".ogg")
    assert_playable_opus(files_of(dc, message)[0])


async def test_speak_as_a_slash_command_answers_with_an_audio_file(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        speak = dc.send_slash(channel, alice, "speak", {"text": "Good morning, everyone."})
        response = await answered(dc, speak.id, files=1)
    assert not response["flags"] & (VOICE_FLAG | 64)  # an interaction's answer cannot be a voice message
    assert response["attachments"][0]["filename"].endswith(".ogg")
    assert assert_playable_opus(files_of(dc, response)[0]) > 0


async def test_buttons_on_a_private_list_run_their_command_in_place(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    async with start_discord():
        listing = dc.send_slash(dm, alice, "voice")
        shown = await answered(dc, listing.id)
        buttons = [b for row in shown["components"] for b in row["components"]]
        assert buttons and all(b["custom_id"].startswith("venice:cmd:/voice ") for b in buttons)
        chosen = buttons[0]["custom_id"].removeprefix("venice:cmd:/voice ")
        dc.send_component(dm, alice, int(shown["id"]), buttons[0]["custom_id"])
        await dc.wait_for(
            lambda: (
                chosen in (dc.interaction(listing.id).original or {}).get("content", "")
                and not dc.interaction(listing.id).original["components"]
            )
        )
    assert shown["flags"] & 64  # the list is private: its answer replaced it, with no buttons left


async def test_an_over_long_voice_message_is_refused_before_it_is_downloaded(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    async with start_discord(max_voice_seconds=60):
        dc.send_voice_message(dm, alice, ogg_opus(1.0), duration=600.0)
        await dc.wait_for(lambda: bool(bot_messages(dc, dm)))
    assert "⚠️" in bot_messages(dc, dm)[0]["content"] and "10 min" in bot_messages(dc, dm)[0]["content"]
    assert dc.downloads == [] and venice.calls_to("/audio/transcriptions") == []


async def test_a_voice_message_in_a_channel_is_answered_only_as_a_reply_to_the_bot(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    venice.script.extend([ChatScript(content="First answer."), ChatScript(content="Heard you.")])
    async with start_discord():
        dc.send_voice_message(channel, alice, ogg_opus(1.0), duration=1.0)  # nobody addressed: ignored
        dc.send_message(channel, alice, f"<@{dc.bot_id}> hi")
        await dc.wait_for(lambda: any("First answer." in m["content"] for m in bot_messages(dc, channel)))
        first = bot_messages(dc, channel)[-1]
        dc.send_voice_message(channel, alice, ogg_opus(1.0), duration=1.0, reply_to=int(first["id"]))
        await dc.wait_for(
            lambda: any("Heard you." in m["content"] for m in bot_messages(dc, channel)), timeout=10
        )
    assert len(venice.calls_to("/audio/transcriptions")) == 1


# ---- images


async def test_imagine_sends_its_variants_as_files_and_safe_mode_follows_the_nsfw_flag(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, channel, alice = server(dc)
    adult = dc.add_channel(guild, "adult", nsfw=True)
    async with start_discord():
        assert {"imagine", "upscale", "edit", "video"} <= {c["name"] for c in dc.synced_commands()}
        assert "videoconfirm" not in {c["name"] for c in dc.synced_commands()}  # hidden: buttons only
        imagine = dc.send_slash(channel, alice, "imagine", {"prompt": "a lighthouse at dusk", "variants": 2})
        response = await answered(dc, imagine.id, files=2)
        adult_imagine = dc.send_slash(adult, alice, "imagine", {"prompt": "a lighthouse at dusk"})
        await answered(dc, adult_imagine.id, files=1)
    assert not response["flags"] & 64  # pictures are for the channel to see
    images = [Image.open(io.BytesIO(data)) for data in files_of(dc, response)]
    assert len(images) == 2 and all(image.width > 0 for image in images)
    normal, nsfw = venice.calls_to("/image/generate")
    assert normal.body["variants"] == 2
    assert normal.body["safe_mode"] is True and nsfw.body["safe_mode"] is False


async def test_imagine_options_and_autocomplete(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        imagine = next(c for c in dc.synced_commands() if c["name"] == "imagine")
        options = {o["name"]: o for o in imagine["options"]}
        assert options["prompt"]["required"] and not options["seed"].get("required")
        assert options["model"].get("autocomplete") and options["style"].get("autocomplete")
        typed = dc.send_autocomplete(channel, alice, "imagine", "style", "")
        await dc.wait_for(lambda: typed.choices is not None)
        style = typed.choices[0]["value"]
        run = dc.send_slash(channel, alice, "imagine", {"prompt": "a fox", "seed": 42, "style": style})
        await answered(dc, run.id, files=1)
    (call,) = venice.calls_to("/image/generate")
    assert call.body["seed"] == 42 and call.body["style_preset"] == style and call.body["prompt"] == "a fox"


async def test_a_photo_with_a_question_goes_to_a_vision_model_as_a_data_url(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    venice.script.append(ChatScript(content="A blue square."))
    async with start_discord():
        dc.send_message(
            channel,
            alice,
            f"<@{dc.bot_id}> what is in this picture?",
            attachments=[("square.png", png(64, 64), "image/png")],
        )
        await dc.wait_for(lambda: any("A blue square." in m["content"] for m in bot_messages(dc, channel)))
    question = venice.calls_to("/chat/completions")[-1].body["messages"][-1]["content"]
    kinds = [part["type"] for part in question]
    assert "image_url" in kinds and "text" in kinds
    url = next(part["image_url"]["url"] for part in question if part["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png(64, 64)


async def test_upscale_from_the_message_menu_and_as_a_slash_command_with_an_image(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        names = {(c["name"], c["type"]) for c in dc.synced_commands()}
        assert {("Upscale ×2", 3), ("Upscale ×4", 3), ("Edit image", 3)} <= names
        photo = dc.send_message(
            channel, alice, "my photo", attachments=[("photo.png", png(320, 240), "image/png")]
        )
        menu = dc.send_context_menu(channel, alice, "Upscale ×2", int(photo["id"]))
        upscaled = await answered(dc, menu.id, files=1)
        plain = dc.send_message(channel, alice, "no picture here")
        nothing = dc.send_context_menu(channel, alice, "Upscale ×4", int(plain["id"]))
        refused = await answered(dc, nothing.id)
        slash = dc.send_slash(channel, alice, "upscale", {"scale": "4", "image": ("p.png", png(320, 240))})
        slashed = await answered(dc, slash.id, files=1)
    with Image.open(io.BytesIO(files_of(dc, upscaled)[0])) as image:
        assert image.size == (640, 480)
    assert refused["content"] == "That message has no image." and refused["flags"] & 64
    with Image.open(io.BytesIO(files_of(dc, slashed)[0])) as image:
        assert image.size == (1280, 960)
    assert [c.body["scale"] for c in venice.calls_to("/image/upscale")] in ([2, 4], ["2", "4"])


async def test_edit_image_from_the_message_menu_asks_for_the_change_in_a_form(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        photo = dc.send_message(
            channel, alice, "look", attachments=[("photo.png", png(300, 300), "image/png")]
        )
        menu = dc.send_context_menu(channel, alice, "Edit image", int(photo["id"]))
        await dc.wait_for(lambda: menu.modal is not None)
        assert menu.modal is not None and menu.modal["title"] == "Edit image"
        inputs = [
            c for row in menu.modal["components"] for c in row.get("components") or [row.get("component")]
        ]
        submitted = dc.submit_modal(menu.id, {inputs[0]["custom_id"]: "make the sky purple"})
        edited = await answered(dc, submitted.id, files=1)
    (call,) = venice.calls_to("/image/edit")
    assert call.body["prompt"] == "make the sky purple"
    with Image.open(io.BytesIO(files_of(dc, edited)[0])) as image:
        assert image.size == (300, 300)


async def test_a_reply_with_upscale_uses_the_image_of_the_replied_message(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        imagine = dc.send_slash(channel, alice, "imagine", {"prompt": "a boat", "size": "512x512"})
        picture = await answered(dc, imagine.id, files=1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> /upscale 2", reply_to=int(picture["id"]))
        await dc.wait_for(
            lambda: len([m for m in bot_messages(dc, channel) if m["attachments"]]) == 2, timeout=10
        )
    upscaled = [m for m in bot_messages(dc, channel) if m["attachments"]][-1]
    with Image.open(io.BytesIO(files_of(dc, upscaled)[0])) as image:
        assert image.size == (1024, 1024)


async def test_an_image_over_the_upload_limit_is_sent_as_jpeg_or_else_explained(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        first = dc.send_slash(channel, alice, "imagine", {"prompt": "a big picture", "size": "1024x1024"})
        original = await answered(dc, first.id, files=1)
        size = len(files_of(dc, original)[0])
        dc.attachment_size_limit = size - 1  # the same picture no longer fits as it comes
        second = dc.send_slash(channel, alice, "imagine", {"prompt": "a big picture", "size": "1024x1024"})
        shrunk = await answered(dc, second.id, files=1)
        dc.attachment_size_limit = 200
        third = dc.send_slash(channel, alice, "imagine", {"prompt": "a big picture", "size": "1024x1024"})
        await dc.wait_for(
            lambda: "bigger than" in (dc.interaction(third.id).original or {}).get("content", "")
        )
        explained = await answered(dc, third.id)
    assert shrunk["attachments"][0]["filename"].endswith(".jpg")
    with Image.open(io.BytesIO(files_of(dc, shrunk)[0])) as image:
        assert image.format == "JPEG"
    assert explained["attachments"] == [] and "bigger than" in explained["content"]


# ---- video, buttons, late delivery


async def test_video_quote_confirm_button_renders_and_delivers_the_video(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord():
        quote = dc.send_slash(channel, alice, "video", {"prompt": "waves on a beach"})
        offer = await answered(dc, quote.id)
        buttons = {b["label"]: b["custom_id"] for row in offer["components"] for b in row["components"]}
        confirm = next(custom_id for label, custom_id in buttons.items() if "$" in label)
        assert confirm.startswith("venice:cmd:/videoconfirm ")
        dc.send_component(channel, alice, int(offer["id"]), confirm)
        await file_sent(dc, channel, ".mp4")
    video = next(m for m in bot_messages(dc, channel) if m["attachments"])
    assert files_of(dc, video)[0][4:8] == b"ftyp"
    progress = dc.edits_of(channel, int(video["id"]))
    assert any("⏳" in shown for shown in progress[:-1])  # the status line showed while it rendered
    offer_now = next(m for m in dc.messages(channel) if m["id"] == offer["id"])
    assert offer_now["components"] == []  # pressed: the buttons are gone
    assert len(venice.calls_to("/video/queue")) == 1


async def test_someone_elses_video_button_is_refused_privately(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, channel, alice = server(dc)
    bob = dc.add_user("bob")
    dc.add_member(guild, bob)
    async with start_discord():
        quote = dc.send_slash(channel, alice, "video", {"prompt": "waves"})
        offer = await answered(dc, quote.id)
        confirm = next(
            b["custom_id"]
            for row in offer["components"]
            for b in row["components"]
            if "confirm" in b["custom_id"]
        )
        press = dc.send_component(channel, bob, int(offer["id"]), confirm)
        await dc.wait_for(lambda: bool(press.followups))
    assert press.followups[0]["flags"] & 64 and "⚠️" in press.followups[0]["content"]
    assert venice.calls_to("/video/queue") == []


async def test_late_results_are_delivered_in_their_channel(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord() as adapter:
        deliver = adapter._service.deliverers["discord"]
        video = Attachment("video", "video/mp4", mp4_video(1.0), duration=1.0)
        await deliver(
            Destination("discord", str(channel), str(alice)), Reply("Your video is ready.", (video,))
        )
    (message,) = bot_messages(dc, channel)
    assert (
        message["content"] == "Your video is ready." and message["attachments"][0]["filename"] == "video.mp4"
    )
    assert "discord" not in adapter._service.deliverers  # removed on stop


# ---- the same on simcord (a third-party simulated Discord that checks discord.py's payloads strictly)


@pytest.fixture
def simulated(make_settings: Callable[..., Settings], retry: RetryPolicy) -> Callable[..., Any]:
    @asynccontextmanager
    async def start() -> AsyncIterator[tuple[simcord.Env, DiscordAdapter]]:
        settings = make_settings(discord_bot_token="simulated")
        async with build_service(settings, retry=retry) as service:
            adapter = DiscordAdapter(service, settings, options=DiscordOptions(edit_interval=0.05))
            async with simcord.run(adapter.client, settle_timeout=15) as env:
                yield env, adapter
            await service.wait_idle()

    return start


async def test_imagine_and_the_image_menus_on_simcord(simulated: Any, venice: FakeVenice) -> None:
    async with simulated() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        imagined = await alice.slash(channel, "imagine", prompt="a red kite", variants=2, size="512x512")
        assert imagined.response is not None and len(imagined.response.attachments) == 2
        for attachment in imagined.response.attachments:
            with Image.open(io.BytesIO(await attachment.read())) as image:
                assert image.size == (512, 512)
        upscaled = await alice.context_menu(channel, "Upscale ×2", imagined.response.message)
        assert upscaled.response is not None
        with Image.open(io.BytesIO(await upscaled.response.attachments[0].read())) as image:
            assert image.size == (1024, 1024)
        form = await alice.context_menu(channel, "Edit image", imagined.response.message)
        assert form.modal is not None and form.modal["title"] == "Edit image"
        field = next(
            c for row in form.modal["components"] for c in row.get("components") or [row["component"]]
        )
        edited = await alice.submit_modal(form, {field["custom_id"]: "make it night"})
        assert edited.response is not None and len(edited.response.attachments) == 1
    assert [c.body["prompt"] for c in venice.calls_to("/image/edit")] == ["make it night"]
