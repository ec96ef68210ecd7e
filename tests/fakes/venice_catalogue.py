"""Default data the fake Venice serves: models, characters, balance and rate limits, shaped per the spec."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.fakes.venice_music_models import music_models

EMBEDDING_MODEL_ID = "text-embedding-bge-m3"
EMBEDDING_DIMENSIONS = 256  # the fake's hashed bag of words; the real BGE M3 gives 1024
TEXT_MODEL_IDS = ("venice-uncensored", "llama-3.3-70b", "qwen3-vl-235b-a22b")
CACHE_WRITE_MODEL_ID = "claude-sonnet-fake"  # cache_write_model(), not in the defaults
TTS_VOICES = ("af_sky", "af_bella", "am_adam", "bf_emma", "bm_george")
ORPHEUS_VOICES = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")  # the spec lists these eight
IMAGE_STYLES = (
    "3D Model",
    "Analog Film",
    "Anime",
    "Cinematic",
    "Comic Book",
    "Craft Clay",
    "Digital Art",
    "Fantasy Art",
    "Line Art",
    "Neon Punk",
    "Origami",
    "Photographic",
    "Pixel Art",
)
# Video models carry no pricing in /models (the spec's pricing anyOf has no video branch): Venice
# prices them through POST /video/quote. The fake quotes USD per second of video at 720p.
VIDEO_USD_PER_SECOND = {"wan-2-7-text-to-video": 0.10, "wan-2-7-image-to-video": 0.08}


def _capabilities(**overrides: Any) -> dict[str, Any]:
    # The spec marks capabilities `additionalProperties: false` with all fifteen keys required.
    caps: dict[str, Any] = {
        "optimizedForCode": False,
        "quantization": "fp8",
        "supportsFunctionCalling": False,
        "supportsAudioInput": False,
        "supportsReasoning": False,
        "supportsReasoningEffort": False,
        "supportsResponseSchema": False,
        "supportsMultipleImages": False,
        "supportsVision": False,
        "supportsVideoInput": False,
        "supportsWebSearch": False,
        "supportsLogProbs": False,
        "supportsTeeAttestation": False,
        "supportsE2EE": False,
        "supportsXSearch": False,
    }
    caps.update(overrides)
    return caps


def _price(usd: float) -> dict[str, float]:
    return {"usd": usd, "diem": usd}


def _text_model(
    model_id: str,
    name: str,
    context: int,
    privacy: str,
    price_in: float,
    price_out: float,
    traits: list[str],
    created: int,
    cache_in: float | None = None,
    **capabilities: Any,
) -> dict[str, Any]:
    pricing = {"input": _price(price_in), "output": _price(price_out)}
    if cache_in is not None:  # models with prompt caching list the cache-read price
        pricing["cache_input"] = _price(cache_in)
    return {
        "id": model_id,
        "type": "text",
        "object": "model",
        "created": created,
        "owned_by": "venice.ai",
        "context_length": context,  # mirrors availableContextTokens, as Venice does for OpenAI clients
        "model_spec": {
            "name": name,
            "availableContextTokens": context,
            "maxCompletionTokens": min(context // 4, 16384),
            "privacy": privacy,
            "capabilities": _capabilities(**capabilities),
            "constraints": {"temperature": {"default": 0.7}, "top_p": {"default": 0.9}},
            "pricing": pricing,
            "traits": traits,
            "modelSource": f"https://huggingface.co/fake/{model_id}",
            "offline": False,
            "beta": False,
        },
    }


def default_models() -> list[dict[str, Any]]:
    """Return a fresh default catalogue: three text models, two image, one TTS, one ASR, one upscale,
    one inpaint, two video and one embedding model."""
    return [
        _text_model(
            "venice-uncensored",
            "Venice Uncensored",
            32768,
            "private",
            0.20,
            0.90,
            ["most_uncensored"],
            1742262554,
            quantization="fp16",
        ),
        _text_model(
            "llama-3.3-70b",
            "Llama 3.3 70B",
            65536,
            "private",
            0.70,
            2.80,
            ["default", "function_calling_default"],
            1733768349,
            supportsFunctionCalling=True,
            supportsWebSearch=True,
            supportsResponseSchema=True,
            supportsLogProbs=True,
        ),
        _text_model(
            "qwen3-vl-235b-a22b",
            "Qwen3 VL 235B",
            131072,
            "anonymized",
            0.25,
            1.50,
            ["default_vision", "default_reasoning"],
            1752000000,
            cache_in=0.125,
            supportsVision=True,
            supportsMultipleImages=True,
            maxImages=4,
            supportsReasoning=True,
            supportsWebSearch=True,
            supportsFunctionCalling=True,
        ),
        {
            "id": "venice-sd35",
            "type": "image",
            "object": "model",
            "created": 1743099022,
            "owned_by": "venice.ai",
            "model_spec": {
                "name": "Venice SD35",
                "privacy": "private",
                "constraints": {
                    "promptCharacterLimit": 1500,
                    "steps": {"default": 25, "max": 30},
                    "widthHeightDivisor": 16,
                },
                "pricing": {"generation": _price(0.01), "upscale": {"2x": _price(0.02), "4x": _price(0.08)}},
                "traits": ["default"],
                "offline": False,
            },
        },
        {
            "id": "tts-kokoro",
            "type": "tts",
            "object": "model",
            "created": 1741285930,
            "owned_by": "venice.ai",
            "model_spec": {
                "name": "Kokoro Text to Speech",
                "privacy": "private",
                "pricing": {"input": _price(3.50)},  # per 1M characters
                "voices": list(TTS_VOICES),
                "default_voice": "af_sky",
                "supports_speed": True,
                "default_speed": 1,
                "min_speed": 0.25,
                "max_speed": 4,
                "supported_formats": ["mp3", "opus", "aac", "flac", "wav", "pcm"],
                "default_format": "mp3",
                "traits": [],
                "offline": False,
            },
        },
        {
            "id": "nvidia/parakeet-tdt-0.6b-v3",
            "type": "asr",
            "object": "model",
            "created": 1755000000,
            "owned_by": "venice.ai",
            "model_spec": {
                "name": "Parakeet TDT 0.6B v3",
                "privacy": "private",
                "pricing": {"per_audio_second": _price(0.0001)},
                "traits": [],
                "offline": False,
            },
        },
        *media_models(),
        embedding_model(),
    ]


def _model(model_id: str, kind: str, created: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": model_id,
        "type": kind,
        "object": "model",
        "created": created,
        "owned_by": "venice.ai",
        "model_spec": spec,
    }


def media_models() -> list[dict[str, Any]]:
    """Return the media models beyond the first image, TTS and ASR ones: one of each other media type."""
    upscale_prices = {"2x": _price(0.02), "4x": _price(0.08)}
    return [
        # Priced by resolution tier; the spec's image pricing still requires `upscale`.
        _model(
            "flux-2-pro",
            "image",
            1764000000,
            {
                "name": "FLUX.2 Pro",
                "privacy": "anonymized",
                "constraints": {
                    "aspectRatios": ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"],
                    "defaultAspectRatio": "1:1",
                    "resolutions": ["1K", "2K"],
                    "defaultResolution": "1K",
                    "promptCharacterLimit": 2048,
                    "steps": {"default": 25, "max": 50},
                    "widthHeightDivisor": 16,
                },
                "pricing": {
                    "resolutions": {"1K": _price(0.04), "2K": _price(0.07)},
                    "upscale": upscale_prices,
                },
                "traits": [],
                "offline": False,
            },
        ),
        _model(
            "upscaler",
            "upscale",
            1743099022,
            {
                "name": "Upscaler",
                "privacy": "private",
                "pricing": {"upscale": upscale_prices},
                "traits": [],
                "offline": False,
            },
        ),
        _model(
            "firered-image-edit",
            "inpaint",
            1760000000,
            {
                "name": "FireRed Image Edit",
                "privacy": "private",
                "constraints": {
                    "aspectRatios": ["auto", "1:1", "3:2", "16:9", "21:9", "9:16", "2:3", "3:4", "4:5"],
                    "promptCharacterLimit": 1500,
                    "combineImages": False,
                },
                "pricing": {"inpaint": _price(0.04)},
                "traits": ["default"],
                "offline": False,
            },
        ),
        _video_model(
            "wan-2-7-text-to-video", "Wan 2.7 Text to Video", "text-to-video", ["720p", "1080p"], False
        ),
        _video_model("wan-2-7-image-to-video", "Wan 2.7 Image to Video", "image-to-video", ["720p"], True),
        *music_models(),
    ]


def embedding_model() -> dict[str, Any]:
    """Return the embedding model: priced per 1M input tokens (the spec's LLM pricing also wants output)."""
    return _model(
        EMBEDDING_MODEL_ID,
        "embedding",
        1745000000,
        {
            "name": "BGE M3",
            "privacy": "private",
            "pricing": {"input": _price(0.15), "output": _price(0.60)},
            "embeddingDimensions": EMBEDDING_DIMENSIONS,
            "maxInputTokens": 8192,
            "supportsCustomDimensions": True,
            "traits": [],
            "offline": False,
        },
    )


def _video_model(
    model_id: str, name: str, model_type: str, resolutions: list[str], audio_configurable: bool
) -> dict[str, Any]:
    return _model(
        model_id,
        "video",
        1765000000,
        {
            "name": name,
            "privacy": "anonymized",
            "constraints": {
                "aspect_ratios": ["16:9", "9:16", "1:1"],
                "resolutions": resolutions,
                "durations": ["5s", "10s"],
                "model_type": model_type,
                "audio": True,
                "audio_configurable": audio_configurable,
                "prompt_character_limit": 2500,
            },
            "traits": [],
            "offline": False,
        },
    )


def orpheus_tts_model() -> dict[str, Any]:
    """Return a second TTS model, with voices of its own (not in the defaults: see below).

    Left out of ``default_models()`` because the fake's own tests expect exactly one TTS model there;
    append it to ``fake.models`` to test a voice that belongs to another model.
    """
    return _model(
        "tts-orpheus",
        "tts",
        1758000000,
        {
            "name": "Orpheus TTS",
            "privacy": "anonymized",
            "pricing": {"input": _price(7.00)},  # per 1M characters
            "voices": list(ORPHEUS_VOICES),
            "default_voice": "tara",
            "supports_speed": False,
            "supported_formats": ["mp3", "opus", "wav"],
            "default_format": "mp3",
            "traits": [],
            "offline": False,
        },
    )


def cache_write_model() -> dict[str, Any]:
    """Return a text model priced like Anthropic's on Venice: it charges for cache writes
    (``cache_write``, 1.25 × input) and has an extended tier above 200,000 prompt tokens.

    Left out of ``default_models()`` so the default catalogue (and what is cheapest in it) stays
    as the fake's own tests expect; append it to ``fake.models`` to test cache writes or the tier.
    """
    model = _text_model(
        CACHE_WRITE_MODEL_ID,
        "Claude Sonnet (fake)",
        1_000_000,
        "anonymized",
        3.00,
        15.00,
        [],
        1760000000,
        cache_in=0.30,
    )
    pricing = model["model_spec"]["pricing"]
    pricing["cache_write"] = _price(3.75)
    pricing["extended"] = {
        "context_token_threshold": 200_000,
        "input": _price(6.00),
        "output": _price(22.50),
        "cache_input": _price(0.60),
        "cache_write": _price(7.50),
    }
    return model


def default_image_styles() -> list[str]:
    """Return the style names GET /image/styles lists."""
    return list(IMAGE_STYLES)


def _character(
    slug: str,
    name: str,
    description: str,
    model_id: str,
    tags: list[str],
    web: bool,
    uuid: str,
    *,
    adult: bool = False,
) -> dict[str, Any]:
    return {
        "id": uuid,
        "slug": slug,
        "name": name,
        "description": description,
        "author": "k3x9q",
        "adult": adult,
        "featured": True,
        "webEnabled": web,
        "modelId": model_id,
        "tags": tags,
        "photoUrl": f"https://outerface.venice.ai/api/characters/{uuid}/photo",
        "shareUrl": f"https://venice.ai/c/{slug}",
        "createdAt": "2024-12-20T21:28:08.934Z",
        "updatedAt": "2025-02-09T03:23:53.708Z",
        "stats": {
            "averageRating": 4.7,
            "imports": 112,
            "ratingCount": 24,
            "ratingSum": 113,
            "userRating": None,
        },
    }


# (slug, name, description, model, tags, web enabled, adult). None of them says "detective": a search for it
# finds Sherlock Holmes alone. Together with the two above they are more than one page of buttons (8).
_MORE_CHARACTERS: tuple[tuple[str, str, str, str, tuple[str, ...], bool, bool], ...] = (
    (
        "ada-lovelace",
        "Ada Lovelace",
        "Mathematician who wrote the first program, for Babbage's Analytical Engine.",
        "llama-3.3-70b",
        ("History", "Science", "Mathematics"),
        False,
        False,
    ),
    (
        "marcus-aurelius",
        "Marcus Aurelius",
        "Roman emperor and Stoic philosopher; speaks plainly about duty and calm.",
        "venice-uncensored",
        ("Philosophy", "Stoicism", "History"),
        False,
        False,
    ),
    (
        "marie-curie",
        "Marie Curie",
        "Physicist and chemist, twice a Nobel laureate, pioneer of radioactivity.",
        "llama-3.3-70b",
        ("Science", "History", "Chemistry"),
        True,
        False,
    ),
    (
        "captain-nemo",
        "Captain Nemo",
        "Commander of the Nautilus, exile beneath the seas, engineer and recluse.",
        "venice-uncensored",
        ("Adventure", "Books", "Roleplay"),
        False,
        False,
    ),
    (
        "chef-auguste",
        "Chef Auguste",
        "A French chef with strong opinions about butter; will plan your dinner party.",
        "llama-3.3-70b",
        ("Cooking", "Food", "Helpful"),
        False,
        False,
    ),
    (
        "dungeon-master",
        "The Dungeon Master",
        "Runs a fantasy campaign for you: dice, maps, monsters and consequences.",
        "venice-uncensored",
        ("Fantasy", "Games", "Roleplay"),
        False,
        False,
    ),
    (
        "socrates",
        "Socrates",
        "Answers your questions with questions until you find out what you think.",
        "venice-uncensored",
        ("Philosophy", "History", "Teaching"),
        False,
        False,
    ),
    (
        "space-pilot-vega",
        "Vega, Space Pilot",
        "A smuggler pilot on the outer rim; your ship, her rules.",
        "venice-uncensored",
        ("Sci-Fi", "Adventure", "Roleplay"),
        False,
        False,
    ),
    (
        "spanish-tutor-lucia",
        "Lucía, Spanish Tutor",
        "Patient Spanish teacher from Seville; corrects you gently and in context.",
        "llama-3.3-70b",
        ("Languages", "Teaching", "Helpful"),
        False,
        False,
    ),
    (
        "victorian-ghost",
        "The Victorian Ghost",
        "Haunts a London townhouse and remembers every scandal since 1851.",
        "venice-uncensored",
        ("Horror", "History", "Roleplay"),
        False,
        False,
    ),
    (
        "velvet-lounge-host",
        "Velvet, Lounge Host",
        "Flirtatious host of an after-hours lounge. Adults only.",
        "venice-uncensored",
        ("Romance", "Roleplay", "NSFW"),
        False,
        True,
    ),
    (
        "succubus-lilith",
        "Lilith",
        "A demon of desire from an explicit dark-fantasy roleplay. Adults only.",
        "venice-uncensored",
        ("Fantasy", "Roleplay", "NSFW"),
        False,
        True,
    ),
)


def default_characters() -> list[dict[str, Any]]:
    """Return fourteen public characters: Alan Watts and Sherlock Holmes first, two adult ones among the rest."""
    return [
        _character(
            "alan-watts",
            "Alan Watts",
            "British writer and speaker who popularised Buddhist, Taoist and Hindu philosophy.",
            "venice-uncensored",
            ["Philosophy", "Taoism", "Buddhism"],
            False,
            "2f460055-7595-4640-9cb6-c442c4c869b0",
        ),
        _character(
            "sherlock-holmes",
            "Sherlock Holmes",
            "The consulting detective of 221B Baker Street; reasons from the smallest details.",
            "llama-3.3-70b",
            ["Detective", "Mystery", "Books"],
            True,
            "8d3c2f3e-1b7a-4a55-9a1e-5b1f1a3c9e21",
        ),
        *(
            _character(
                slug,
                name,
                description,
                model,
                list(tags),
                web,
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://venice.ai/c/{slug}")),
                adult=adult,
            )
            for slug, name, description, model, tags, web, adult in _MORE_CHARACTERS
        ),
    ]


def default_balance() -> dict[str, Any]:
    """Return the default GET /billing/balance body."""
    return {
        "canConsume": True,
        "consumptionCurrency": "USD",
        "balances": {"usd": 12.5, "diem": 3.0},
        "diemEpochAllocation": 10,
    }


def rate_limits_body(models: list[dict[str, Any]], balance: dict[str, Any]) -> dict[str, Any]:
    """Build a GET /api_keys/rate_limits body for a paid key, with per-model RPM/RPD/TPM limits."""
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    limits = []
    for model in models:
        if model.get("type") == "text":
            amounts = [(50, "RPM"), (72000, "RPD"), (750000, "TPM")]
        else:
            amounts = [(20, "RPM"), (28800, "RPD")]
        limits.append(
            {"apiModelId": model["id"], "rateLimits": [{"amount": a, "type": t} for a, t in amounts]}
        )
    balances = balance.get("balances", {})
    return {
        "data": {
            "accessPermitted": bool(balance.get("canConsume", True)),
            "apiTier": {"id": "paid", "isCharged": True},
            "balances": {"USD": balances.get("usd") or 0.0, "DIEM": balances.get("diem") or 0.0},
            "keyExpiration": None,
            # DIEM epochs start at 00:00 UTC.
            "nextEpochBegins": f"{tomorrow.isoformat()}T00:00:00.000Z",
            "rateLimits": limits,
        }
    }
