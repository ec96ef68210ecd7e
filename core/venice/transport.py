"""Requests to Venice: authentication, retries where they are safe, the failure budget, and the
rate-limit and balance headers of every answer."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from core.network import diagnose
from core.ports.metrics import NO_METRICS, Metrics
from core.venice.errors import TooManyFailures, VeniceError, VeniceUnreachable, error_for_status
from core.venice.retry import RETRYABLE_STATUSES, FailureBudget, RetryPolicy
from core.venice.types import RateLimitState

log = logging.getLogger(__name__)

# Failures where no request reached Venice's model, so sending again cannot charge twice.
# A read timeout is left out on purpose: Venice may still be generating (and billing) it.
_RETRYABLE_TRANSPORT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.RemoteProtocolError,
    httpx.WriteError,
)


class Transport:
    """Send requests to Venice over an ``httpx.AsyncClient`` that the caller owns."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: SecretStr,
        base_url: str,
        retry: RetryPolicy,
        failures: FailureBudget | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._http = http
        self.metrics = metrics
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._retry = retry
        self.failures = failures or FailureBudget(monotonic=retry.monotonic)
        self.rate_limits = RateLimitState()
        self._deprecation_warned: set[str] = set()

    async def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        stream: bool = False,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a successful response (open, when ``stream``).

        ``content`` is a JSON body, already encoded; ``form`` and ``files`` make a multipart
        upload instead (the file is written in pieces: no whole copy of it is made).
        """
        policy = self._retry
        started = policy.monotonic()
        attempt = 0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            # A file goes to httpx as a reader, so it is written in 64 KB pieces: bytes would
            # be handed to the socket whole, and asyncio copies what the socket cannot take at
            # once into its write buffer (bench/media.py: 1.65x the upload, against ~0).
            uploads = (
                {name: (filename, io.BytesIO(data), kind) for name, (filename, data, kind) in files.items()}
                if files
                else None
            )
            request = self._http.build_request(
                method,
                self.base_url + path,
                content=content,
                params=params,
                headers=headers,
                data=form,
                files=uploads,
            )
            hinted: float | None = None
            sent_at = time.monotonic()
            try:
                async with self.failures.slot():
                    if not self.failures.may_send():
                        raise TooManyFailures(
                            "local failure budget exhausted",
                            retry_after=self.failures.seconds_until_room(),
                        )
                    sent_at = time.monotonic()  # after the wait for a slot: Venice's time only
                    response = await self._http.send(request, stream=stream)
            except _RETRYABLE_TRANSPORT as exc:
                self._count(path, sent_at, "unreachable")
                self.failures.record_failure()
                error: VeniceError = VeniceUnreachable(type(exc).__name__, cause=diagnose(exc))
            except httpx.TransportError as exc:
                self._count(path, sent_at, "unreachable")
                self.failures.record_failure()
                raise VeniceUnreachable(type(exc).__name__, cause=diagnose(exc)) from None
            else:
                self._count(path, sent_at, str(response.status_code))
                self._observe(response, model)
                if response.status_code < 400:
                    return response
                raw = await response.aread()
                await response.aclose()
                self.failures.record_failure()
                status = response.status_code
                hinted = policy.hinted_delay(status, response.headers)
                error = error_for_status(
                    status, raw, cf_ray=response.headers.get("cf-ray"), retry_after=hinted
                )
                log.warning(
                    "Venice %s %s -> %s %s (cf-ray %s): %s",
                    method,
                    path,
                    status,
                    error.code or "",
                    error.cf_ray,
                    error.api_message,  # redacted, at most 300 characters
                )
                if status not in RETRYABLE_STATUSES:
                    raise error
            # A hint of zero (a reset already past) still waits a backoff: never a tight loop.
            wait = hinted if hinted else policy.backoff(attempt)
            elapsed = policy.monotonic() - started
            if (
                attempt >= policy.max_attempts
                or wait > policy.max_delay
                or elapsed + wait > policy.max_total
                or not self.failures.may_retry()
            ):
                if error.retry_after is None:
                    error.retry_after = wait
                raise error
            log.info("Retrying Venice %s %s in %.1f s (attempt %d)", method, path, wait, attempt + 1)
            await policy.sleep(wait)

    async def probe(self, path: str, params: Mapping[str, Any] | None = None) -> int:
        """Ask Venice once (no retry, outside the failure budget); return the HTTP status.

        Raises ``VeniceUnreachable`` when no answer came. For health checks: a probe that fails
        must not make the bot's own requests wait or give up sooner.
        """
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        sent_at = time.monotonic()
        try:
            request = self._http.build_request("GET", self.base_url + path, params=params, headers=headers)
            response = await self._http.send(request, stream=True)
            await response.aclose()  # the status is the answer: the body is not read
        except httpx.TransportError as exc:
            self._count(path, sent_at, "unreachable")
            raise VeniceUnreachable(type(exc).__name__, cause=diagnose(exc)) from None
        self._count(path, sent_at, str(response.status_code))
        self._observe(response, None)
        return response.status_code

    def _count(self, path: str, sent_at: float, status: str) -> None:
        # One series per endpoint, not per character: a slug in the path is not a label value.
        endpoint = "/characters/{slug}" if path.startswith("/characters/") else path
        self.metrics.venice_request(endpoint, time.monotonic() - sent_at, status)

    def _observe(self, response: httpx.Response, model: str | None) -> None:
        """Keep the rate-limit and balance headers; warn once about a deprecated model."""
        h = response.headers
        old = self.rate_limits
        self.rate_limits = RateLimitState(
            remaining_requests=_int(h.get("x-ratelimit-remaining-requests"), old.remaining_requests),
            limit_requests=_int(h.get("x-ratelimit-limit-requests"), old.limit_requests),
            remaining_tokens=_int(h.get("x-ratelimit-remaining-tokens"), old.remaining_tokens),
            limit_tokens=_int(h.get("x-ratelimit-limit-tokens"), old.limit_tokens),
            balance_usd=_float(h.get("x-venice-balance-usd"), old.balance_usd),
            balance_diem=_float(h.get("x-venice-balance-diem"), old.balance_diem),
            observed_at=time.time(),
        )
        warning = h.get("x-venice-model-deprecation-warning")
        if warning and model and model not in self._deprecation_warned:
            self._deprecation_warned.add(model)
            log.warning(
                "Venice deprecates model %s: %s (date: %s)",
                model,
                warning,
                h.get("x-venice-model-deprecation-date", "unknown"),
            )


def _int(value: str | None, default: int | None) -> int | None:
    try:
        return default if value is None else int(float(value))
    except ValueError:
        return default


def _float(value: str | None, default: float | None) -> float | None:
    try:
        return default if value is None else float(value)
    except ValueError:
        return default
