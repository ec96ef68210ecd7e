"""The fake Venice's music models (``GET /models?type=music``), as the spec's model_spec shapes them.

Kept apart from venice_catalogue.py (which lists them) so that venice_audio.py can read the same
prices without an import circle.
"""

from __future__ import annotations

from typing import Any

MUSIC_MODEL = "elevenlabs-music"  # songs: lyrics, an instrumental switch, 10 to 300 seconds
SOUND_MODEL = "stable-audio-sfx"  # sound effects: fixed lengths, one price a sound, wav
MUSIC_USD_PER_SECOND = 0.0125
SOUND_USD = 0.02


def music_models() -> list[dict[str, Any]]:
    """Return a song model priced per second and a sound-effects model priced per generation."""
    return [
        _music_model(
            MUSIC_MODEL,
            "ElevenLabs Music",
            {"per_second": {"usd": MUSIC_USD_PER_SECOND, "diem": MUSIC_USD_PER_SECOND}},
            min_duration=10,
            max_duration=300,
            default_duration=30,
            supports_lyrics=True,
            lyrics_required=False,
            supports_force_instrumental=True,
            lyrics_character_limit=3000,
            prompt_character_limit=2000,
            min_prompt_length=1,
            supported_formats=["mp3"],
            default_format="mp3",
        ),
        _music_model(
            SOUND_MODEL,
            "Stable Audio Sound Effects",
            {"generation": {"usd": SOUND_USD, "diem": SOUND_USD}},
            duration_options=[5, 10, 20, 30],
            default_duration=10,
            supports_lyrics=False,
            supports_force_instrumental=False,
            supports_loop=True,
            prompt_character_limit=500,
            min_prompt_length=3,
            supported_formats=["wav"],
            default_format="wav",
        ),
    ]


def _music_model(model_id: str, name: str, pricing: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "type": "music",
        "object": "model",
        "created": 1767000000,
        "owned_by": "venice.ai",
        "model_spec": {
            "name": name,
            "privacy": "anonymized",
            "pricing": pricing,
            "traits": [],
            "offline": False,
            **spec,
        },
    }
