"""`venice-bots db copy`: a used SQLite database into an empty PostgreSQL and back, every row
counted, and a bot on the copy that goes on where the original was (memory, balances)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from bots.dbcopy import copy
from core.errors import InvalidInput
from tests.fakes.venice import FakeVenice
from tests.helpers import ask, message

USER = {"platform": "telegram", "user_id": "7"}  # pays from the ledger


async def balance(service: Any) -> int:
    return int(await service.store.ledger.balance(await service.account_of(message("", **USER))))


async def test_a_used_database_is_copied_whole_and_the_bot_goes_on_from_the_copy(
    make_service: Any, venice: FakeVenice, postgres_url: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/bot.db"
    async with make_service(database_url=sqlite_url, history_token_budget=200) as service:
        await ask(service, "My name is Ada and my bike lock code is 4471.", **USER)
        for i in range(8):
            await ask(service, f"Note {i}: the garden needs water and the kitchen needs paint.", **USER)
        await ask(service, "/system You are terse.", **USER)
        await ask(service, "Hello from another chat", chat_id="chat-2", **USER)
        await service.wait_idle()
        before = await balance(service)
    out, progress = io.StringIO(), io.StringIO()
    assert await copy(sqlite_url, postgres_url, out, progress) == 0
    report = out.getvalue()
    assert "every row count matches" in report and "MISMATCH" not in report
    for table in ("messages", "conversations", "users", "memory_chunks", "chat_settings"):
        line = next(row for row in report.splitlines() if row.startswith(table + " "))
        here, there = (int(n.replace(",", "")) for n in line.split()[1::2])
        assert here == there > 0, line
    assert "messages:" in progress.getvalue()

    async with make_service(database_url=postgres_url, history_token_budget=200) as service:
        assert await balance(service) == before
        await ask(service, "What is my bike lock code?", **USER)
        await service.wait_idle()
    sent = venice.calls_to("/chat/completions")[-1].body["messages"]
    assert sent[0]["content"] == "You are terse."  # the chat's settings came along
    assert any("4471" in str(m["content"]) for m in sent[:-1])  # and its memory: recalled
    assert any("Note 7" in str(m["content"]) for m in sent[:-1])  # and its recent turns

    with pytest.raises(InvalidInput, match="is not empty"):
        await copy(sqlite_url, postgres_url, io.StringIO(), io.StringIO())
    back = f"sqlite:///{tmp_path}/back.db"
    assert await copy(postgres_url, back, io.StringIO(), io.StringIO()) == 0


async def test_copy_wants_one_sqlite_and_one_postgresql_url(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="between SQLite and PostgreSQL"):
        await copy(f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db", io.StringIO(), io.StringIO())
