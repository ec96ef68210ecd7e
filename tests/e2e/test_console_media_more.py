"""The console's /cutout and /video with and without a picture: a file's path after the command
where one is needed, and /video's text taken as its description when no file is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.console import ConsoleAdapter
from tests.e2e.test_console import scripted_io
from tests.fakes import media_samples
from tests.fakes.venice import FakeVenice


async def test_cutout_takes_a_path_and_video_animates_a_named_picture_or_describes_one(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    picture = tmp_path / "photo.png"
    picture.write_bytes(media_samples.png(320, 240))
    read_line, write, out = scripted_io(
        [f"/cutout {picture}", f"/video {picture} the waves move", "/video waves on a beach", "/cutout"]
    )
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, media_dir=tmp_path / "media").run()
        await service.wait_idle()
    text = "".join(out)
    assert venice.calls_to("/image/background-remove")[0].files["image"].data == picture.read_bytes()
    assert [p.name.split("-", 2)[2] for p in (tmp_path / "media").iterdir()] == ["cutout.png"]
    assert "Animating your picture: a 5s video with wan-2-7-image-to-video" in text
    assert "A 5s video with wan-2-7-text-to-video" in text  # no file named: a description
    assert "Give the image's path." in text  # /cutout needs one
    assert [c.body["model"] for c in venice.calls_to("/video/quote")] == [
        "wan-2-7-image-to-video",
        "wan-2-7-text-to-video",
    ]
