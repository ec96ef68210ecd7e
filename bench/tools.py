"""What offering tools costs a turn that does not use them.

Prints, from one run:
1. the prompt tokens the built-in tools' specs add to every request of a model that calls
   functions (estimated as the bot estimates tokens);
2. the time a turn takes through the core with a model that gets the tools (llama-3.3-70b in
   the fake catalogue) and with one that does not (venice-uncensored), the same fixed answer
   from a fake Venice in its own process: median and p90 over alternating blocks.

Timings are ratios from one run on a shared machine: read them as such.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.core_overhead import KEY, fake_venice, percentile, through_core  # noqa: E402
from bots.bootstrap import build_service  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.text import estimate_tokens  # noqa: E402

WITH_TOOLS = "llama-3.3-70b"
WITHOUT = "venice-uncensored"


def settings(base_url: str, folder: str, model: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        venice_api_key=KEY,
        venice_base_url=base_url,
        database_url=f"sqlite:///{folder}/{model}.db",
        default_chat_model=model,
        log_level="WARNING",
        rate_limit_per_minute=0,
    )


async def main() -> None:
    async with fake_venice() as base_url:
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                build_service(settings(base_url, tmp, WITH_TOOLS)) as tooled,
                build_service(settings(base_url, tmp, WITHOUT)) as plain,
            ):
                specs = [tool.spec.as_json() for source in tooled.tools.sources() for tool in source.tools()]
                print(
                    f"1. The {len(specs)} built-in tools' specs: {estimate_tokens(json.dumps(specs))} prompt "
                    "tokens with every request of a model that calls functions"
                )
                times: dict[str, list[float]] = {WITH_TOOLS: [], WITHOUT: []}
                for service in (tooled, plain):
                    for n in range(10):  # warm up: the catalogue, the database
                        await through_core(service, f"warm-{n % 3}", "Hello there, briefly?")
                for block in range(8):
                    for model, service in ((WITH_TOOLS, tooled), (WITHOUT, plain)):
                        for n in range(30):
                            times[model].append(
                                await through_core(service, f"b{block}-{n % 5}", f"Question {n}, briefly?")
                            )
                print("2. A turn that calls no tool, through the core:")
                for model, label in ((WITHOUT, "no tools offered"), (WITH_TOOLS, "tools offered")):
                    values = times[model]
                    print(
                        f"   {label:17s} median {statistics.median(values) * 1000:6.2f} ms   "
                        f"p90 {percentile(values, 0.9) * 1000:6.2f} ms   ({len(values)} turns, {model})"
                    )
                extra = statistics.median(times[WITH_TOOLS]) / statistics.median(times[WITHOUT]) - 1
                print(f"   offering the tools adds {extra * 100:+.1f} % to the median turn")


if __name__ == "__main__":
    asyncio.run(main())
