"""Memory of a 25 MB upscale round trip through the core.

Prints, from one run: the peak memory the round trip adds on top of the payload the user sent
(target: <= 3x the payload), split into the upload (until Venice's response headers arrive)
and the download, which says how many payload-sized copies each made.

The fake Venice runs in its own process (bench/fake_venice_server.py --echo-upscale), so its
memory is not counted; it sends the uploaded image straight back, a response as big as the
upload. The image is a real PNG header (2000×2000) padded to just under Venice's 25 MB limit:
the bot reads only headers, so padding stands in for pixels.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

from bots.bootstrap import build_service, http_client  # noqa: E402
from core.events import Attachment, IncomingMessage, ReplyStream  # noqa: E402
from core.images import MAX_UPLOAD_BYTES  # noqa: E402
from core.settings import Settings  # noqa: E402

MB = 1024 * 1024


def payload() -> bytes:
    """A PNG whose header says 2000×2000, padded to 24.9 MB."""
    out = io.BytesIO()
    Image.new("RGB", (2000, 2000), (30, 90, 160)).save(out, format="PNG")
    head = out.getvalue()
    return head + bytes(MAX_UPLOAD_BYTES - MB // 10 - len(head))


class PhasePeaks:
    """Peak traced memory before and after the response headers (an httpx event hook)."""

    def __init__(self) -> None:
        self.baseline = 0
        self.upload = 0

    async def on_response(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/image/upscale"):
            self.upload = tracemalloc.get_traced_memory()[1] - self.baseline
            tracemalloc.reset_peak()


async def round_trip(base_url: str, data: bytes) -> tuple[int, int, int, float]:
    """(peak added while uploading, peak added while downloading, bytes back, seconds)."""
    peaks = PhasePeaks()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            venice_api_key="bench-key",
            venice_base_url=base_url,
            database_url=f"sqlite:///{tmp}/bench.db",
            rate_limit_per_minute=0,
            _env_file=None,  # type: ignore[call-arg]
        )
        http = http_client(settings)
        http.event_hooks["response"].append(peaks.on_response)
        async with build_service(settings, http=http) as service:
            message = IncomingMessage(
                platform="console",
                chat_id="bench",
                user_id="operator",
                text="/upscale 2",
                attachments=(Attachment("image", "image/png", data, filename="big.png"),),
            )
            await service.venice.models("upscale")  # the catalogue is cached before measuring
            await service.venice.models("image")
            tracemalloc.start(1)
            peaks.baseline = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            result = await service.handle_message(message)
            assert isinstance(result, ReplyStream)
            reply = await result.reply()
            elapsed = time.perf_counter() - started
            download = tracemalloc.get_traced_memory()[1] - peaks.baseline
            tracemalloc.stop()
            (image,) = reply.attachments
            assert len(image.data) == len(data)
    return peaks.upload, download, len(image.data), elapsed


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_venice_server.py"), "--echo-upscale"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        base_url = line.partition("=")[2]
        data = payload()
        upload, download, received, elapsed = asyncio.run(round_trip(base_url, data))
    finally:
        server.terminate()
        server.wait(10)
    size = len(data)
    print(f"payload: {size / MB:.1f} MB upscale 2x (fake Venice echoes it: {received / MB:.1f} MB back)")
    added = max(upload, download)
    print(
        f"peak memory added by the round trip: {added / MB:.1f} MB = {added / size:.2f}x the payload "
        f"(target <= 3x)"
    )
    print(
        f"  while uploading:   {upload / MB:5.1f} MB = {upload / size:.2f}x -> "
        f"{round(upload / size)} whole copies of the upload"
    )
    print(
        f"  while downloading: {download / MB:5.1f} MB = {download / size:.2f}x -> the response as "
        f"received in pieces, then joined into one bytes object ({round(download / size)} payloads)"
    )
    print(f"round trip: {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    main()
