"""Retry waits honour Venice's rate-limit headers; the failure budget stays far from a block."""

import random

from core.venice.retry import FailureBudget, RetryPolicy

NOW = 1_800_000_000.0


def policy() -> RetryPolicy:
    return RetryPolicy(wall=lambda: NOW, rng=random.Random(1))


def test_retry_after_seconds() -> None:
    assert policy().hinted_delay(429, {"retry-after": "3"}) == 3.0


def test_reset_requests_is_a_unix_timestamp() -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": str(NOW + 12)}
    assert policy().hinted_delay(429, headers) == 12.0


def test_reset_requests_in_milliseconds_is_understood() -> None:
    headers = {"x-ratelimit-type": "requests", "x-ratelimit-reset-requests": str((NOW + 5) * 1000)}
    assert policy().hinted_delay(429, headers) == 5.0


def test_reset_tokens_is_seconds() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "4.5"}
    assert policy().hinted_delay(429, headers) == 4.5


def test_the_longest_hint_wins() -> None:
    headers = {
        "retry-after": "2",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "9",
    }
    assert policy().hinted_delay(429, headers) == 9.0


def test_no_hint_means_backoff() -> None:
    assert policy().hinted_delay(429, {}) is None
    assert policy().hinted_delay(503, {}) is None


def test_backoff_grows_with_jitter_within_bounds() -> None:
    p = policy()
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (8, 20.0)]:
        waits = [p.backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered, so many clients do not retry in lockstep


def test_failure_budget_window() -> None:
    now = [0.0]
    budget = FailureBudget(monotonic=lambda: now[0])
    for _ in range(budget.retry_limit):
        budget.record_failure()
    assert not budget.may_retry() and budget.may_send()
    for _ in range(budget.hard_limit - budget.retry_limit):
        budget.record_failure()
    assert not budget.may_send()
    assert budget.hard_limit < 20  # Venice blocks a key after more than 20 in 30 s
    now[0] = 30.5
    assert budget.may_send() and budget.may_retry() and budget.recent == 0
