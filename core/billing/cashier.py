"""Every paid action goes through here: who pays, the guards, the hold, and its refund on failure."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from core.billing.guards import AccountGuard, KeyRateLimiter, UserRateLimit
from core.events import Charge, IncomingMessage, Reply, ReplyStream
from core.ports.inbox import Inbox
from core.ports.metrics import NO_METRICS, Metrics
from core.ports.records import OpenReservation, Reservation, TokenUse
from core.ports.storage import ChatSettingsStore, ConversationStore, LedgerStore
from core.settings import Settings
from core.venice.errors import InsufficientBalance, VeniceError


class Cashier:
    """Find the account that pays for a message's sender, and hold money for paid actions.

    A paid action that answers its message (a chat answer, a picture, a voice) marks the
    message answered in the same transaction that settles its charge: after a crash, a
    message is either answered and paid, or neither (and answered again).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        chat_settings: ChatSettingsStore,
        conversations: ConversationStore,
        ledger: LedgerStore,
        rate_limit: UserRateLimit,
        account: AccountGuard,
        key_limits: KeyRateLimiter,
        inbox: Inbox,
        atomic: Callable[[], AbstractAsyncContextManager[None]],
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._inbox = inbox
        self.atomic = atomic
        self._answers: dict[str, tuple[str, tuple[str, ...]]] = {}  # hold → the message it answers
        self._chat_settings = chat_settings
        self._conversations = conversations
        self._ledger = ledger
        self._rate_limit = rate_limit
        self._account = account
        self._key_limits = key_limits
        self._unlimited: dict[str, bool] = {}

    async def account_of(self, message: IncomingMessage) -> str:
        """The ledger account that pays for this user's actions (admins: unlimited)."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        if chat.shared_pool and not message.is_direct:
            return f"chat:{message.platform}:{message.chat_id}"
        user_id = await self._conversations.user_id(message.platform, message.user_id, message.user_name)
        owner = await self._ledger.owner_of_user(user_id)
        unlimited = self._settings.admins_unlimited and self._settings.is_admin(
            message.platform, message.user_id
        )
        if unlimited and self._unlimited.get(owner) is not True:
            await self._ledger.set_unlimited(owner, True)
            self._unlimited[owner] = True
        elif not unlimited and owner not in self._unlimited:
            # Never lift an account's limit here: a linked admin may share it.
            self._unlimited[owner] = await self._ledger.is_unlimited(owner)
        return owner

    @asynccontextmanager
    async def paying(
        self, message: IncomingMessage, amount: int, *, feature: str, model_id: str, answers: bool = True
    ) -> AsyncIterator[Reservation]:
        """Check the guards, hold ``amount`` for a paid action, and refund it if the action fails.

        The caller settles the reservation once the work succeeded (or refunds it itself).
        ``answers``: settling it answers the message (not so a transcript, on the way to the
        answer, or a video, whose job outlives the message).
        """
        owner = await self.account_of(message)
        await self._rate_limit.acquire(owner)
        await self._account.check()
        await self._key_limits.acquire(model_id)
        reservation = await self._ledger.reserve(owner, amount, feature=feature)
        if answers and message.receipts:
            self._answers[reservation.request_id] = (message.platform, message.receipts)
        try:
            yield reservation
        except BaseException as exc:
            await self.refund(reservation)  # nothing was delivered: nothing is charged
            if isinstance(exc, InsufficientBalance):
                self._account.saw_payment_required()
            if isinstance(exc, VeniceError) and reservation.amount and "not charged" not in exc.user_message:
                exc.user_message += " You were not charged."
            raise

    async def settle(
        self, held: Reservation, cost: int, *, durable: bool = False, tokens: TokenUse | None = None
    ) -> int:
        """Charge the real cost of a paid action that worked, marking the message it answers
        answered in the same transaction; returns the amount charged.

        ``durable``: written before this returns, for a step that a crash must not find
        half-done (the ledger may otherwise batch the settlement with the next entries).
        ``tokens``: a chat request's prompt tokens, cached tokens and caching's saving
        (``Prices.token_use``), recorded with the charge for /usage.
        """
        answered = self._answers.pop(held.request_id, None)
        if answered is None:
            charged = await self._ledger.settle(held, cost, tokens=tokens)
            if durable:
                await self._ledger.flush()
        else:
            async with self.atomic():  # written within, so durable too
                charged = await self._ledger.settle(held, cost, tokens=tokens)
                await self._inbox.answered(*answered)
        self._metrics.charged(held.feature, charged)
        return charged

    async def settle_on_delivery(
        self, held: Reservation, cost: int, stream: ReplyStream, reply: Reply
    ) -> int:
        """Hand the answer over, then charge it once it reached the user, or refund it if it
        did not; returns the amount charged. A crash before then leaves the message unanswered
        (answered again after the restart) and the hold open (refunded then)."""
        stream.finish(dataclasses.replace(reply, charged_on_delivery=True))
        if await stream.delivered():
            return await self.settle(held, cost)
        await self.refund(held)
        return 0

    async def refund(self, held: Reservation) -> None:
        """Give a hold back in full: the action failed, or delivered nothing."""
        self._answers.pop(held.request_id, None)
        await self._ledger.refund(held)

    async def refund_undelivered(self, charge: Charge) -> bool:
        """Give back what an answer cost when it could not be delivered; False if it was already.

        Recorded as an adjustment of the answer's request, which the ledger takes once only.
        """
        if charge.amount <= 0:
            return False
        return await self._ledger.refund_undelivered(charge)

    async def charge_after(
        self, message: IncomingMessage, cost: int, *, feature: str, tokens: TokenUse | None = None
    ) -> int:
        """Charge work that was done without a hold (a summary after an answer), as far as the
        balance goes; returns the amount charged. ``tokens`` as for ``settle``."""
        owner = await self.account_of(message)
        held = await self._ledger.reserve(owner, 0, feature=feature)
        charged = await self._ledger.settle(held, cost, tokens=tokens)
        self._metrics.charged(feature, charged)
        return charged

    async def resume(self, owner: str, reservation_id: str, amount: int, feature: str) -> Reservation:
        """A hold recorded before a restart, to settle or refund it now."""
        account = await self._ledger.account(owner)
        return Reservation(reservation_id, account, amount, feature)

    async def release(self, orphans: list[OpenReservation]) -> int:
        """Refund holds that no live work owns; returns how much went back (micro-USD).

        Their turns died with their process before Venice's figures were saved, and the user
        saw no complete answer (a message left unanswered is answered again): nothing is
        charged for them.
        """
        total = 0
        for hold in orphans:
            await self.refund(await self.resume(hold.owner, hold.request_id, hold.amount, hold.feature))
            total += hold.amount
        return total
