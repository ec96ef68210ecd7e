"""Settings from the environment and an optional ``.env`` file (pydantic-settings)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KNOWN_PLATFORMS = ("telegram", "discord", "console")
API_KEY_URL = "https://venice.ai/settings/api"


class Settings(BaseSettings):
    """Every setting of the bot; the names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    venice_api_key: SecretStr = Field(description="Venice API key (secret)")
    venice_base_url: str = Field("https://api.venice.ai/api/v1", description="Venice API base URL")
    database_url: str = Field(
        "sqlite:///data/venice-bots.db", description="SQLite file, or postgresql://user:pass@host:port/db"
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL: connections per worker")
    default_chat_model: str = Field("venice-uncensored", description="Model for new chats")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    admin_user_ids: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), description="Bot admins, e.g. telegram:123,discord:456"
    )
    include_venice_system_prompt: bool = Field(
        False, description="Add Venice's own system prompt to the bot's"
    )
    default_system_prompt: str = Field(
        "You are a helpful assistant in a chat app. Answer concisely; use Markdown sparingly.",
        description="System prompt for chats that set none",
    )
    max_message_chars: int = Field(16_000, ge=100, le=1_000_000, description="Longest message")
    reply_max_tokens: int = Field(2048, ge=64, le=131_072, description="Reply budget in tokens")
    models_cache_seconds: float = Field(600.0, ge=0, description="How long /models is cached")
    venice_timeout_seconds: float = Field(
        120.0, gt=0, description="Longest wait for Venice: each read, and a whole streamed answer"
    )
    venice_max_attempts: int = Field(4, ge=1, le=6, description="Tries per Venice request")
    redeliver_window_minutes: float = Field(
        30.0, ge=0, le=7 * 24 * 60, description="At start-up, answer messages a crash left this recent"
    )
    history_token_budget: int = Field(
        1000,
        ge=200,
        le=1_000_000,
        description="Tokens of recent turns sent verbatim (per chat: /memory budget)",
    )
    history_token_budget_max: int = Field(
        8000, ge=200, le=1_000_000, description="Largest /memory budget a chat may choose"
    )
    summary_model: str | None = Field(
        None, description="Model that writes running summaries (default: the cheapest private text model)"
    )
    embedding_model: str | None = Field(
        None, description="Model for long-term recall's embeddings (default: the cheapest embedding model)"
    )
    recall_token_budget: int = Field(
        600, ge=0, le=20_000, description="Most tokens of recalled earlier messages per turn (0: recall off)"
    )
    max_document_mb: float = Field(20.0, gt=0, le=25, description="Largest document accepted, in MB")
    max_document_tokens: int = Field(
        50_000, ge=100, le=1_000_000, description="Longest document text accepted, in tokens"
    )

    user_allowance_usd: float = Field(1.0, ge=0, description="Credit each user gets per period")
    allowance_period: Literal["daily", "weekly", "monthly", "none"] = Field(
        "daily", description="How often allowances refill (00:00 UTC)"
    )
    allowance_rollover: bool = Field(False, description="Unused allowance carries over")
    price_markup: float = Field(1.0, ge=0, le=100, description="Multiplier on Venice's prices")
    feature_markups: Annotated[dict[str, float], NoDecode] = Field(
        {}, description="Per-feature multipliers instead of PRICE_MARKUP, e.g. summary=0,chat=1.2"
    )
    admins_unlimited: bool = Field(True, description="Bot admins spend without a balance")
    rate_limit_per_minute: int = Field(20, ge=0, le=10_000, description="Paid requests per user per minute")
    venice_balance_floor_usd: float = Field(
        0.0, ge=0, description="Refuse paid actions when the Venice account holds less"
    )

    default_image_model: str | None = Field(
        None, description="Model for /imagine (empty: Venice's default image model)"
    )
    image_edit_model: str = Field("firered-image-edit", description="Model for /edit")
    cutout_price_usd: float = Field(
        0.03, ge=0, le=10, description="Price of a /cutout (Venice: $0.03 per image; /models lists none)"
    )
    transcript_price_usd: float = Field(
        0.05, ge=0, le=10, description="Price of a /transcript (Venice publishes none; /models lists none)"
    )
    default_tts_model: str = Field("tts-kokoro", description="Text-to-speech model for new chats")
    default_tts_voice: str = Field("af_sky", description="Voice for new chats (of that model)")
    transcription_model: str = Field(
        "nvidia/parakeet-tdt-0.6b-v3", description="Speech-to-text model for voice notes"
    )
    max_voice_seconds: int = Field(
        300, ge=1, le=7200, description="Longest voice note or audio file transcribed"
    )
    max_spoken_parts: int = Field(
        3, ge=1, le=20, description="Voice notes per spoken answer (4,096 characters each)"
    )
    vision_auto_switch: bool = Field(
        True, description="Answer images with a vision model when the chat's model has none"
    )
    vision_model: str | None = Field(
        None, description="Model for images (empty: Venice's default vision model)"
    )
    default_video_model: str | None = Field(
        None, description="Model for /video (empty: the first video model Venice lists)"
    )
    default_image_to_video_model: str | None = Field(
        None, description="Model that animates a picture (empty: the first image-to-video model listed)"
    )
    video_timeout_seconds: float = Field(
        1800.0, ge=60, description="Give up (and refund) a video job after this long"
    )
    video_poll_seconds: float = Field(5.0, gt=0, description="First wait between video polls")
    default_music_model: str | None = Field(
        None, description="Model for /music (empty: the first music model Venice lists)"
    )
    music_poll_seconds: float = Field(
        3.0, gt=0, le=60, description="Wait between checks on a music job (a track is sent this soon after)"
    )
    music_timeout_seconds: float = Field(
        900.0, ge=60, description="Give up (and refund) a music job after this long"
    )

    message_retention_days: int = Field(
        30, ge=0, le=36_500, description="Delete stored messages older than this (0: keep forever)"
    )
    retention_sweep_seconds: float = Field(3600.0, ge=1, description="How often old messages are looked for")
    log_content: bool = Field(False, description="Log message content (debugging only)")
    private_models_only: bool = Field(
        False, description="Offer only models Venice runs privately (hide anonymized ones)"
    )

    telegram_bot_token: SecretStr | None = Field(None, description="Telegram bot token (secret)")
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (self-hosted server)"
    )
    telegram_base_file_url: str = Field(
        "https://api.telegram.org/file/bot", description="Bot API file base URL"
    )
    telegram_webhook_url: str | None = Field(None, description="Public HTTPS URL for webhook mode")
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="Secret Telegram sends with each webhook call"
    )
    telegram_webhook_listen: str = Field("0.0.0.0", description="Webhook server address")
    telegram_webhook_port: int = Field(8443, ge=1, le=65535, description="Webhook server port")

    discord_bot_token: SecretStr | None = Field(None, description="Discord bot token (secret)")
    discord_api_base_url: str = Field(
        "https://discord.com/api/v10", description="Discord REST base URL (a REST proxy)"
    )
    discord_gateway_url: str = Field(
        "wss://gateway.discord.gg", description="Discord gateway URL (a gateway proxy)"
    )
    discord_guild_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        (), description="Servers to sync commands to at once (development)"
    )
    discord_shard_count: int | None = Field(None, ge=1, le=10_000, description="Shards to run")
    discord_shard_ids: Annotated[frozenset[int] | None, NoDecode] = Field(
        None, description="This worker's shards, e.g. 0,1 (needs DISCORD_SHARD_COUNT)"
    )

    tools_default: bool = Field(
        True, description="Models that support function calling may call tools (per chat: /tools)"
    )
    max_tool_rounds: int = Field(4, ge=1, le=10, description="Most rounds of tool calls in one turn")
    tool_cost_ceiling_usd: float = Field(
        0.05, ge=0, description="Tools may spend this much in one turn before the user must confirm"
    )
    mcp_config: str | None = Field(
        None, description="JSON file of MCP servers (mcpServers) whose tools the model may call"
    )

    web_host: str = Field("127.0.0.1", description="Web console address (0.0.0.0: every interface)")
    web_port: int = Field(8080, ge=1, le=65535, description="Web console port")
    web_admin_password: SecretStr | None = Field(
        None, description="The web console's admin password (secret); unset: no console"
    )
    web_trust_proxy: bool = Field(
        False, description="Believe X-Forwarded-For/-Proto from a reverse proxy in front of the console"
    )

    @field_validator("web_admin_password")
    @classmethod
    def _web_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 12:
            raise ValueError("must be at least 12 characters: it guards every user's balance")
        return value

    @field_validator("venice_api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @field_validator("discord_bot_token")
    @classmethod
    def _discord_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value.rstrip("/")

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _guild_ids(cls, value: object) -> tuple[int, ...]:
        return tuple(_numbers(value, "a server id (a number)"))

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: object, info: ValidationInfo) -> frozenset[int] | None:
        ids = frozenset(_numbers(value, "a shard number (e.g. 0,1)"))
        if not ids or "discord_shard_count" not in info.data:
            return ids or None  # without the count's value, its own error is the one to read
        count = info.data["discord_shard_count"]
        if count is None:
            raise ValueError("needs DISCORD_SHARD_COUNT, the bot's total number of shards")
        if max(ids) >= count:
            raise ValueError(
                f"shard {max(ids)} does not exist: with DISCORD_SHARD_COUNT={count} shards are 0 to {count - 1}"
            )
        return ids

    @field_validator("feature_markups", mode="before")
    @classmethod
    def _markups(cls, value: object) -> dict[str, float]:
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        out: dict[str, float] = {}
        for item in (i.strip() for i in str(value or "").split(",")):
            if not item:
                continue
            name, sep, number = item.partition("=")
            try:
                factor = float(number)
            except ValueError:
                factor = -1.0
            if not sep or not re.fullmatch(r"[a-z_]+", name.strip()) or not 0 <= factor <= 100:
                raise ValueError(f"{item!r} is not feature=multiplier (e.g. summary=0 or chat=1.2)")
            out[name.strip()] = factor
        return out

    @field_validator("discord_shard_count", "mcp_config", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("venice_base_url", "telegram_base_url", "telegram_base_file_url", "discord_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if not value.endswith("/bot") else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not re.fullmatch(r"\d+:[\w-]{10,}", value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be a full URL, e.g. https://bot.example.org/telegram")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("may only use A-Z, a-z, 0-9, _ and - (1 to 256 characters)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            return value
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(
                "must look like sqlite:///data/venice-bots.db (a SQLite file) or "
                "postgresql://user:password@host:5432/database"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _admins(cls, value: object) -> frozenset[str]:
        if isinstance(value, (set, frozenset, list, tuple)):
            items = [str(v) for v in value]
        else:
            items = [part for part in str(value or "").split(",")]
        out = set()
        for item in (i.strip() for i in items):
            if not item:
                continue
            platform, sep, user = item.partition(":")
            if not sep or not user or platform.lower() not in KNOWN_PLATFORMS:
                raise ValueError(f"{item!r} is not platform:id (platforms: {', '.join(KNOWN_PLATFORMS)})")
            out.add(f"{platform.lower()}:{user}")
        return frozenset(out)

    def secret_values(self) -> list[str]:
        """Every secret's value, for masking in logs."""
        secrets = [
            self.venice_api_key,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.discord_bot_token,
            self.web_admin_password,
        ]
        return [s.get_secret_value() for s in secrets if s is not None]

    def admin_ids(self, platform: str) -> list[int]:
        """The numeric ids of the bot's admins on one platform (to message or list them)."""
        ids = []
        for admin in sorted(self.admin_user_ids):
            name, _, user_id = admin.partition(":")
            if name == platform and user_id.lstrip("-").isdigit():
                ids.append(int(user_id))
        return ids

    def is_admin(self, platform: str, user_id: str) -> bool:
        """Whether this user is one of the bot's admins.

        The local console's user is the operator, an admin, unless they chat as a guest
        (``venice-bots chat --guest NAME``, user id ``guest:NAME``) to see what users see.
        """
        if platform == "console" and not user_id.startswith("guest:"):
            return True
        return f"{platform}:{user_id}" in self.admin_user_ids

    @property
    def turn_lease_seconds(self) -> float:
        """How long a turn holds its message: past its Venice deadline, saving and settling."""
        return 2 * self.venice_timeout_seconds + 60


def _numbers(value: object, what: str) -> list[int]:
    """Read a comma-separated list of non-negative numbers (or a list of them) from a setting."""
    items = value if isinstance(value, (list, tuple, set, frozenset)) else str(value or "").split(",")
    numbers = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"{item!r} is not {what}")
        numbers.append(int(item))
    return numbers
