"""Load for bench/web.py, in a process of its own so it does not share the console's loop.

    python bench/web_load.py BASE_URL PATH SECONDS CONCURRENCY [PASSWORD] [INTERVAL]

Logs in first when PASSWORD is given. With INTERVAL each of the CONCURRENCY clients asks once
every INTERVAL seconds (a dashboard, a Prometheus scrape); without it, as fast as answers come.
Prints ``READY`` once logged in, then (after SECONDS) one JSON line: requests, errors, seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def client(
    base: str, path: str, until: float, password: str, interval: float, counts: dict[str, int]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        if password:
            login = await http.post("/login", data={"password": password})
            assert login.status_code == 303, login.status_code
        while time.monotonic() < until:
            started = time.monotonic()
            response = await http.get(path)
            counts["requests" if response.status_code == 200 else "errors"] += 1
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def main() -> None:
    base, path, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    password = sys.argv[5] if len(sys.argv) > 5 else ""
    interval = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    counts = {"requests": 0, "errors": 0}
    print("READY", flush=True)
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(client(base, path, until, password, interval, counts) for _ in range(concurrency)))
    print(json.dumps({**counts, "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
