"""/cutout: Venice removes a picture's background and sends a PNG with transparency, delivered as a
file (a photo would lose the transparency on Telegram). ``/models`` lists no price for it: the
bot charges CUTOUT_PRICE_USD (Venice's published price by default), reserved and settled like
pictures."""

from __future__ import annotations

from core import images
from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.events import Attachment, IncomingMessage, Reply, ReplyStream
from core.media.uploads import source_image
from core.runner import Runner
from core.settings import Settings
from core.venice.client import VeniceClient

FEATURE = "cutout"
MODEL = "background-remove"  # what Venice's rate limits and the ledger name the call after


class Cutouts:
    """Cut the subject of a picture out of its background."""

    def __init__(
        self, settings: Settings, *, venice: VeniceClient, prices: Prices, cashier: Cashier, runner: Runner
    ) -> None:
        self.settings = settings
        self._venice = venice
        self._prices = MediaPrices(prices)
        self._cashier = cashier
        self._runner = runner

    async def cutout(self, message: IncomingMessage) -> ReplyStream:
        """Remove the background of the attached or replied-to picture; paid per picture."""
        source = source_image(message, "/cutout")
        info = images.check_upload(source.data)
        price = self._prices.flat(self.settings.cutout_price_usd, FEATURE)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(message, price, feature=FEATURE, model_id=MODEL) as held:
                data = await self._venice.remove_background(
                    source.data, filename=f"image.{info.extension}", mime_type=info.mime_type
                )
                result = images.inspect(data)  # Venice answered with something we can show
            reply = Reply(
                text=f"✂️ Background removed: {result.width}×{result.height}, a PNG with transparency",
                # A file, not a photo: Telegram would flatten a photo's transparency to JPEG.
                attachments=(
                    Attachment("file", result.mime_type, data, filename=f"cutout.{result.extension}"),
                ),
            )
            await self._cashier.settle_on_delivery(held, price, stream, reply)

        return self._runner.spawn(work, activity="upload_document")
