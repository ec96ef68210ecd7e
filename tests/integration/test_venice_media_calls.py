"""The Venice client's background removal, multi-edit and video transcript calls over real HTTP
against the fake Venice, every request checked against Venice's spec."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from core.images import data_url
from core.venice import errors as e
from core.venice.client import VeniceClient
from core.venice.retry import RetryPolicy
from tests.conftest import TEST_KEY
from tests.fakes.media_samples import png
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_media_more import DEFAULT_VIDEO_TRANSCRIPT, MULTI_EDIT_MODEL

pytestmark = pytest.mark.usefixtures("openapi_spec")


@pytest.fixture
async def client(venice: FakeVenice, retry: RetryPolicy) -> AsyncIterator[VeniceClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)


async def test_background_removal_answers_a_png_with_transparency(
    client: VeniceClient, venice: FakeVenice
) -> None:
    data = await client.remove_background(png(320, 240), filename="photo.png", mime_type="image/png")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 240)
        assert image.getpixel((0, 0))[3] == 0 and image.getpixel((160, 120))[3] == 255
    [call] = venice.calls_to("/image/background-remove")
    assert call.files["image"].filename == "photo.png" and venice.cutouts_made == 1


async def test_multi_edit_sends_the_images_as_data_urls_to_the_model(
    client: VeniceClient, venice: FakeVenice
) -> None:
    images = [data_url(png(320, 240, seed=n), "image/png") for n in range(3)]
    data, kind = await client.multi_edit(images, prompt="put them together", model=MULTI_EDIT_MODEL)
    assert kind == "image/png" and Image.open(io.BytesIO(data)).size == (320, 240)
    [call] = venice.calls_to("/image/multi-edit")
    assert call.body["modelId"] == MULTI_EDIT_MODEL and len(call.body["images"]) == 3
    assert all(url.startswith("data:image/png;base64,") for url in call.body["images"])
    with pytest.raises(e.BadRequest):  # one more than the model combines
        await client.multi_edit([*images, images[0]], prompt="all four", model=MULTI_EDIT_MODEL)


async def test_a_youtube_video_is_transcribed_and_another_url_refused(
    client: VeniceClient, venice: FakeVenice
) -> None:
    transcript = await client.transcribe_video("https://youtu.be/dQw4w9WgXcQ")
    assert transcript.text == DEFAULT_VIDEO_TRANSCRIPT and transcript.language == "en"
    with pytest.raises(e.BadRequest):
        await client.transcribe_video("https://example.com/video.mp4")
    venice.fail("/video/transcriptions", 500)
    with pytest.raises(e.VeniceError):
        await client.transcribe_video("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
