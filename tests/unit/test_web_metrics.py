"""The metrics and readiness pieces alone: no registry shared, nothing raised on a turn's path, a
database that does not answer is reported within the write timeout."""

from __future__ import annotations

import asyncio

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from adapters.web.metrics import PrometheusMetrics
from adapters.web.readiness import Readiness


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = prometheus_client.generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_each_instance_counts_on_its_own_registry_never_the_global_one() -> None:
    first, second = PrometheusMetrics(version="1.0"), PrometheusMetrics(version="1.0")
    first.turn("telegram", "chat", "answered")
    first.charged("chat", 2_500)
    answered = (("kind", "chat"), ("outcome", "answered"), ("platform", "telegram"))
    assert samples(first)[("venice_bots_turns_total", answered)] == 1
    assert samples(first)[("venice_bots_charged_usd_total", (("feature", "chat"),))] == 0.0025
    assert not any(name == "venice_bots_turns_total" for name, _ in samples(second))
    assert prometheus_client.REGISTRY.get_sample_value("venice_bots_turns_total") is None


def test_odd_values_on_the_turns_path_are_ignored_not_raised() -> None:
    metrics = PrometheusMetrics()
    metrics.tokens("prompt", -5)  # a Counter raises on a negative step: it must not reach the turn
    metrics.charged("chat", -100)
    metrics.charged("chat", 0)
    metrics.venice_request("/models", -0.1, "200")  # a clock that stepped back
    metrics.venice_request("/chat/completions", 0.2, "unreachable")
    found = samples(metrics)
    assert ("venice_bots_tokens_total", (("kind", "prompt"),)) not in found
    assert ("venice_bots_charged_usd_total", (("feature", "chat"),)) not in found
    assert found[("venice_bots_venice_request_seconds_count", (("endpoint", "/models"),))] == 1
    assert found[("venice_bots_venice_errors_total", (("status", "unreachable"),))] == 1
    assert ("venice_bots_venice_request_seconds_count", (("endpoint", "/chat/completions"),)) not in found
    assert metrics.last_venice_request is not None and metrics.last_venice_request.status == "unreachable"


class StuckState:
    """A state store whose writes never finish (a database locked by another process)."""

    async def get(self, key: str) -> str | None:
        return None

    async def set(self, key: str, value: str) -> None:
        await asyncio.Event().wait()

    async def setdefault(self, key: str, value: str) -> str:
        await asyncio.Event().wait()
        return value


class AnsweringVenice:
    async def ping(self) -> int:
        return 200


async def test_a_database_that_does_not_answer_is_not_ready_after_the_write_timeout() -> None:
    readiness = Readiness(StuckState(), AnsweringVenice(), write_timeout=0.01)
    assert await readiness.check() == (False, ["the database is not writable: no answer within 0.01 s"])
