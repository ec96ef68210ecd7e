"""/video with and without a picture through the core: the model by its spec's ``model_type``,
and a picture that did not survive a restart between the quote and the confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.errors import InvalidInput
from core.events import Attachment
from tests.fakes.media_samples import png
from tests.fakes.venice import FakeVenice
from tests.helpers import ask

USER = {"platform": "telegram", "user_id": "7"}  # not an admin: pays from the ledger


def picture() -> Attachment:
    return Attachment("image", "image/png", png(320, 240), filename="p.png")


async def test_a_description_gets_a_text_to_video_model_even_when_an_image_one_is_listed_first(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.models.sort(key=lambda m: m["id"] != "wan-2-7-image-to-video")
    async with make_service() as service:
        text = await ask(service, "/video a fox in the snow", **USER)
        animated = await ask(service, "/video the fox runs", attachments=(picture(),), **USER)
        with pytest.raises(InvalidInput, match=r"There is no video model 'wan-2-7-image-to-video'"):
            await ask(service, "/video a fox --model wan-2-7-image-to-video", **USER)
    assert "with wan-2-7-text-to-video costs" in text.text
    assert animated.text.startswith("🎬 Animating your picture: a 5s video with wan-2-7-image-to-video")
    assert [c.body["model"] for c in venice.calls_to("/video/quote")] == [
        "wan-2-7-text-to-video",
        "wan-2-7-image-to-video",
    ]
    assert all("image_url" not in c.body for c in venice.calls_to("/video/quote"))  # priced without it


async def test_a_picture_lost_to_a_restart_before_confirming_is_asked_for_again_and_nothing_charged(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        offer = await ask(service, "/video the fox runs", attachments=(picture(),), **USER)
    job = re.search(r"/videoconfirm (\w+)", str(offer.reply.choices)).group(1)  # type: ignore[union-attr]
    async with make_service() as restarted:
        with pytest.raises(InvalidInput, match="no longer has the picture to animate"):
            await ask(restarted, f"/videoconfirm {job}", **USER)
        stored = await restarted.videos.store.get(job)
    assert stored is not None and stored.status == "cancelled"
    assert "data:" not in str(stored.request)  # the picture never reached the database
    assert venice.calls_to("/video/queue") == [] and venice.video_jobs == {}
