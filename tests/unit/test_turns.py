"""Turns of one conversation run one at a time, in the order they were taken."""

import asyncio

from core.turns import TurnQueue


async def test_turns_run_in_the_order_taken_even_if_tasks_start_reversed() -> None:
    queue = TurnQueue()
    order: list[int] = []
    turns = [queue.take("chat") for _ in range(4)]

    async def run(i: int) -> None:
        async with turns[i]:
            order.append(i)
            await asyncio.sleep(0)

    await asyncio.gather(*(run(i) for i in reversed(range(4))))
    assert order == [0, 1, 2, 3]
    assert not queue.busy("chat")


async def test_other_keys_do_not_wait() -> None:
    queue = TurnQueue()
    first = queue.take("a")
    await first.__aenter__()
    other = queue.take("b")
    await asyncio.wait_for(other.__aenter__(), 0.1)  # not blocked by "a"
    other.release()
    first.release()


async def test_a_cancelled_waiter_or_an_unused_turn_does_not_block_the_rest() -> None:
    queue = TurnQueue()
    head = queue.take("c")
    await head.__aenter__()
    cancelled = queue.take("c")
    never_used = queue.take("c")
    last = queue.take("c")
    waiter = asyncio.create_task(cancelled.__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    never_used.release()  # e.g. its task was cancelled before it ever ran
    head.release()
    await asyncio.wait_for(last.__aenter__(), 0.1)
    last.release()
    assert not queue.busy("c")
