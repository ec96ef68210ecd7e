"""What differs between the kinds of queued job (/video, /music): Venice's paths, the ledger's
feature, the commands and the words the user reads."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import Activity
from core.ports.records import JobKind
from core.venice.types import QueueFamily


@dataclass(frozen=True)
class JobKindInfo:
    """What differs between kinds of queued job: Venice's paths, the ledger's feature, the words."""

    kind: JobKind
    family: QueueFamily  # Venice's /video/* or /audio/*
    feature: str  # in the ledger and FEATURE_MARKUPS
    command: str  # /video: its buttons run /videoconfirm and /videocancel
    noun: str  # "video", "track"
    making: str  # the progress line: "Rendering the video"
    activity: Activity  # what the chat shows while it is made

    def not_started(self) -> str:
        """What a user is told of a job a crash stopped before Venice's id was stored."""
        return (
            f"Your {self.noun} could not be started before the bot restarted, so it was not made. "
            f"You were not charged; ask again with /{self.command}."
        )
