"""Gathering an album's items: complete after a quiet moment, at a cap of time, or at ten items."""

import asyncio

import pytest

from adapters.telegram.albums import Album, Albums


def test_an_album_waits_for_quiet_after_its_newest_item_up_to_its_longest() -> None:
    album: Album[str] = Album("key", 100.0, quiet=0.8, longest=3.0, most=10)
    album.add("a", 100.0)
    assert album.wait_time(100.0) == pytest.approx(0.8)
    album.add("b", 100.5)
    assert album.wait_time(100.5) == pytest.approx(0.8)  # a new item restarts the quiet moment
    assert album.wait_time(101.3) == 0.0
    album.add("c", 102.9)  # items keep coming: still complete 3 s after the first
    assert album.wait_time(102.9) == pytest.approx(0.1)
    assert album.wait_time(103.0) == 0.0


def test_an_album_is_complete_at_its_tenth_item() -> None:
    album: Album[int] = Album("key", 0.0, quiet=0.8, longest=3.0, most=10)
    for i in range(10):
        album.add(i, 0.0)
    assert album.wait_time(0.0) == 0.0


async def test_items_join_the_album_their_first_item_opened() -> None:
    albums: Albums[str] = Albums(quiet=0.05, longest=1.0)
    album = albums.add(("chat", "g"), "a")
    assert album is not None
    assert albums.add(("chat", "g"), "b") is None  # joined
    other = albums.add(("other chat", "g"), "x")  # the same group id elsewhere is another album
    assert other is not None and other is not album
    assert await albums.complete(album) == ["a", "b"]
    assert await albums.complete(other) == ["x"]
    assert len(albums) == 0


async def test_a_late_item_opens_a_new_album() -> None:
    albums: Albums[str] = Albums(quiet=0.01, longest=1.0)
    first = albums.add("g", "a")
    assert first is not None
    assert await albums.complete(first) == ["a"]
    late = albums.add("g", "b")
    assert late is not None and late is not first
    assert await albums.complete(late) == ["b"]


async def test_a_full_album_completes_at_once_and_the_next_item_opens_another() -> None:
    albums: Albums[int] = Albums(quiet=60.0, longest=60.0, most=3)
    album = albums.add("g", 0)
    assert album is not None
    for i in (1, 2):
        assert albums.add("g", i) is None
    spare = albums.add("g", 3)  # Telegram's cap reached: this one cannot belong to the full album
    assert spare is not None and spare is not album
    assert await asyncio.wait_for(albums.complete(album), 1.0) == [0, 1, 2]
    assert len(albums) == 1  # the new album stays open


async def test_an_album_that_keeps_growing_is_cut_at_its_longest() -> None:
    albums: Albums[int] = Albums(quiet=0.05, longest=0.2)
    album = albums.add("g", 0)
    assert album is not None

    async def keep_sending() -> None:
        for i in range(1, 100):
            await asyncio.sleep(0.02)
            if albums.add("g", i) is not None:
                return  # the album closed: this item opened the next one

    sender = asyncio.create_task(keep_sending())
    items = await asyncio.wait_for(albums.complete(album), 1.0)
    sender.cancel()
    assert 3 <= len(items) < 20 and items == list(range(len(items)))
