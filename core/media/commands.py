"""The media commands: /imagine /upscale /edit /cutout /speak /voice /voicemode /safemode /video
/music /transcript."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from core import images
from core.commands import Arg, ArgType, Audience, Command, CommandContext, FileArg
from core.errors import InvalidInput
from core.events import Choice, IncomingMessage, Reply, ReplyStream
from core.media.uploads import source_image, source_images

if TYPE_CHECKING:
    from core.media.cutouts import Cutouts
    from core.media.images import Images
    from core.media.jobs import QueuedJobs
    from core.media.music import MusicJobs
    from core.media.speech import Speech
    from core.media.video import VideoJobs
    from core.ports.storage import ChatSettingsStore

VOICE_MODES = ("off", "on", "mirror")
# Venice takes images under 25 MB.
SOURCE_IMAGE = FileArg("image", "The image", ("image",), images.MAX_UPLOAD_BYTES - 1)
PICTURE_TO_ANIMATE = FileArg(
    "image", "A picture to animate", ("image",), images.MAX_UPLOAD_BYTES - 1, optional=True
)
# /transcript's handler: (message, the video's link, the question) -> the answer
Transcribe = Callable[[IncomingMessage, str, str], Awaitable[ReplyStream]]


class MediaCommands:
    """Handlers that turn commands into media actions."""

    def __init__(
        self,
        chat_settings: ChatSettingsStore,
        images: Images,
        speech: Speech,
        videos: VideoJobs,
        music: MusicJobs,
        *,
        cutouts: Cutouts,
        transcribe: Transcribe,
    ) -> None:
        self._chat_settings = chat_settings
        self._images = images
        self._speech = speech
        self._videos = videos
        self._music = music
        self._cutouts = cutouts
        self._transcribe = transcribe

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command(
                "imagine",
                "Generate images from a description",
                self.imagine,
                (
                    Arg(
                        "prompt",
                        "What the image shows",
                        ArgType.TEXT,
                        required=True,
                        example="a red fox in the snow",
                    ),
                    Arg("model", "Image model", option=True, autocomplete="image_models"),
                    Arg("style", "Style preset", ArgType.TEXT, option=True, autocomplete="image_styles"),
                    Arg("aspect", "Aspect ratio, e.g. 16:9", option=True),
                    Arg("size", "Width x height, e.g. 1024x768", option=True),
                    Arg("variants", "How many images, 1 to 4", ArgType.INTEGER, option=True),
                    Arg("negative", "What the image should not show", ArgType.TEXT, option=True),
                    Arg("seed", "Seed, to get the same image again", ArgType.INTEGER, option=True),
                ),
                audience=Audience.CHAT,
            ),
            Command(
                "upscale",
                "Upscale the image you attach or reply to (2x or 4x)",
                self.upscale,
                (Arg("scale", "2 or 4", choices=("2", "4")),),
                file=SOURCE_IMAGE,
                audience=Audience.CHAT,
            ),
            Command(
                "edit",
                "Change the image you attach or reply to as you describe (several: combined)",
                self.edit,
                (
                    Arg(
                        "prompt",
                        "The change to make",
                        ArgType.TEXT,
                        required=True,
                        example="make the sky purple",
                    ),
                ),
                file=SOURCE_IMAGE,
                audience=Audience.CHAT,
            ),
            Command(
                "cutout",
                "Remove the background of the image you attach or reply to (a transparent PNG)",
                self.cutout,
                file=SOURCE_IMAGE,
                audience=Audience.CHAT,
            ),
            Command(
                "speak",
                "Read a text aloud as a voice message",
                self.speak,
                (
                    Arg(
                        "text",
                        "What to say",
                        ArgType.TEXT,
                        required=True,
                        example="Good morning, everyone!",
                        what="the text to read aloud",
                    ),
                ),
                audience=Audience.CHAT,
            ),
            Command(
                "voice",
                "Show the voices, or choose the chat's voice",
                self.voice,
                (Arg("name", "Voice name", autocomplete="voices"),),
            ),
            Command(
                "voicemode",
                "Voice replies: off, on (always), or mirror (to voice notes)",
                self.voicemode,
                (Arg("mode", "off, on or mirror", choices=VOICE_MODES),),
            ),
            Command(
                "safemode",
                "Blur adult images: on or off (chat admins)",
                self.safemode,
                (Arg("mode", "on or off", choices=("on", "off")),),
            ),
            Command(
                "video",
                "Make a short video from a description, or animate a picture (shows the price first)",
                self.video,
                (
                    Arg(
                        "prompt",
                        "What the video shows",
                        ArgType.TEXT,
                        required=True,
                        example="waves rolling onto a beach at sunset",
                    ),
                    Arg("model", "Video model", option=True, autocomplete="video_models"),
                    Arg("duration", "Length, e.g. 5s", option=True),
                    Arg("aspect", "Aspect ratio, e.g. 16:9", option=True),
                    Arg("resolution", "Resolution, e.g. 720p", option=True),
                ),
                file=PICTURE_TO_ANIMATE,
                audience=Audience.CHAT,
            ),
            *self._answers(self._videos),
            Command(
                "music",
                "Make a song or a sound from a description (shows the price first)",
                self.music,
                (
                    Arg(
                        "prompt",
                        "What it sounds like",
                        ArgType.TEXT,
                        required=True,
                        example="a calm piano piece for a rainy evening",
                    ),
                    Arg("model", "Music model", option=True, autocomplete="music_models"),
                    Arg("duration", "Length in seconds, e.g. 30", ArgType.INTEGER, option=True),
                    Arg("instrumental", "No singing: on or off", choices=("on", "off"), option=True),
                    Arg("lyrics", "The words to sing", ArgType.TEXT, option=True),
                ),
                audience=Audience.CHAT,
            ),
            *self._answers(self._music),
            Command(
                "transcript",
                "Transcribe a YouTube video, then answer about it (ask follow-ups after)",
                self.transcript,
                (
                    Arg(
                        "url",
                        "The YouTube video's link",
                        required=True,
                        example="https://youtu.be/dQw4w9WgXcQ",
                        what="a YouTube link (the video to transcribe)",
                    ),
                    Arg("question", "What to ask about it (default: a short summary)", ArgType.TEXT),
                ),
                audience=Audience.CHAT,
            ),
        ]

    async def imagine(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Generate images."""
        prompt = args.pop("prompt")
        return await self._images.imagine(ctx.message, prompt, args)

    async def upscale(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Upscale an image."""
        return await self._images.upscale(ctx.message, int(args.get("scale") or 2))

    async def edit(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Edit an image."""
        return await self._images.edit(ctx.message, args["prompt"])

    async def cutout(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Remove an image's background."""
        return await self._cutouts.cutout(ctx.message)

    async def speak(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Text to a voice note."""
        return await self._speech.speak(ctx.message, args["text"])

    async def voice(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """List the voices, or choose one."""
        name = args.get("name")
        if name:
            ctx.require_chat_admin("change the voice")
            return await self._speech.set_voice(ctx.message, name)
        model, voice, voices = await self._speech.voices(ctx.message)
        chat = await self._chat_settings.get(ctx.message.platform, ctx.message.chat_id)
        lines = [
            f"Voice: {voice} ({model.id}). Voice replies: {chat.voice_mode} (/voicemode).",
            f"Voices of {model.id}: {', '.join(voices) or 'none listed'}.",
            "Choose one with /voice <name>; voices of other models switch the model too.",
        ]
        return Reply("\n".join(lines), choices=tuple(Choice(v, f"/voice {v}") for v in voices if v != voice))

    async def voicemode(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set when answers come as voice too."""
        mode = args.get("mode")
        chat = await self._chat_settings.get(ctx.message.platform, ctx.message.chat_id)
        if not mode:
            return Reply(
                f"Voice replies are {chat.voice_mode}. /voicemode off | on | mirror "
                "(mirror: voice notes get a voice reply, text gets text).",
                choices=tuple(Choice(m, f"/voicemode {m}") for m in VOICE_MODES if m != chat.voice_mode),
            )
        ctx.require_chat_admin("change voice replies")
        await self._chat_settings.update(ctx.message.platform, ctx.message.chat_id, voice_mode=mode)
        said = {
            "off": "Answers come as text only.",
            "on": "Every answer comes as text and as a voice message.",
            "mirror": "Voice notes get a voice reply; text gets text.",
        }[mode]
        return Reply(f"Voice replies: {mode}. {said}")

    async def safemode(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set whether Venice blurs adult images here."""
        message = ctx.message
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        if message.nsfw is not None:
            state = "off (an age-restricted channel)" if message.nsfw else "on"
            return Reply(
                f"Safe mode is {state}. Here it follows the channel's age-restricted (NSFW) "
                "setting, which server admins change in the channel's settings."
            )
        mode = args.get("mode")
        if not mode:
            return Reply(
                f"Safe mode is {'on' if chat.safe_mode else 'off'}: adult images are "
                f"{'blurred' if chat.safe_mode else 'shown'}. Chat admins: /safemode on|off."
            )
        ctx.require_chat_admin("change safe mode")
        await self._chat_settings.update(message.platform, message.chat_id, safe_mode=mode == "on")
        return Reply(
            "Safe mode on: Venice blurs adult images."
            if mode == "on"
            else "Safe mode off: adult images are not blurred in this chat."
        )

    async def video(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Quote a video (of the attached or replied-to picture, if any) and offer it."""
        prompt = args.pop("prompt")
        if source_images(ctx.message):
            args["picture"] = source_image(ctx.message, "/video")
        return await self._videos.quote(ctx.message, prompt, args)

    async def music(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Quote a track and offer it."""
        prompt = args.pop("prompt")
        return await self._music.quote(ctx.message, prompt, args)

    @staticmethod
    def _answers(jobs: QueuedJobs) -> list[Command]:
        """The hidden commands a quote's buttons run: make it, or drop it."""
        noun, name = jobs.info.noun, jobs.info.command

        async def confirm(ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
            return await jobs.confirm(ctx.message, args["id"])

        async def cancel(ctx: CommandContext, args: dict[str, Any]) -> Reply:
            if not args.get("id"):
                raise InvalidInput(f"Which {noun}? Use the Cancel button under its price.")
            return await jobs.cancel(ctx.message, args["id"])

        quote_id = (Arg("id", "The quote's id", required=True),)
        return [
            Command(f"{name}confirm", f"Make a quoted {noun}", confirm, quote_id, hidden=True),
            Command(f"{name}cancel", f"Drop a quoted {noun}", cancel, quote_id, hidden=True),
        ]

    async def transcript(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Transcribe a YouTube video and answer about it."""
        return await self._transcribe(ctx.message, args["url"], args.get("question") or "")
