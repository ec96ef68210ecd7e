"""``venice-bots admin`` through the real command line (``bots.cli.main``) on a real database.

Refused commands and read commands are checked against a snapshot of every table: a typo
must neither fund, nor create, nor forget anyone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.console import ConsoleAdapter
from adapters.storage.sqlite.migrations import discover
from bots import cli
from tests.conftest import TEST_KEY
from tests.e2e.test_console import scripted_io
from tests.e2e.test_doctor import create_database
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask

TG = {"platform": "telegram", "user_id": "7", "chat_id": "7", "user_name": "Mo"}
DC = {"platform": "discord", "user_id": "80351110224678912", "chat_id": "1", "user_name": "Pat"}
GUEST = {"platform": "console", "user_id": "guest:bob", "chat_id": "terminal", "user_name": "guest:bob"}
GROUP = {"platform": "telegram", "chat_id": "-1001234567890", "is_direct": False}
UNSEEN = "the bot has not seen them yet; `venice-bots admin users --search ...` lists known users"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``await run("admin", ...)`` → (exit code, stdout, stderr) of the real command line."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's is read
    for name in ("ADMIN_USER_IDS", "USER_ALLOWANCE_USD", "ALLOWANCE_PERIOD", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VENICE_API_KEY", TEST_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.db")
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    async def run_cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        # main() runs its own event loop, so it runs in a thread beside the test's (and the
        # fake Venice's) loop.
        code = await asyncio.to_thread(cli.main, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run_cli
    root.handlers[:] = saved[0]  # main() set up logging for a process; give pytest its own back
    root.setLevel(saved[1])


def snapshot(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as conn:  # closed: no -wal left open
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def counts(tmp_path: Path) -> dict[str, int]:
    return {table: len(rows) for table, rows in snapshot(tmp_path).items()}


@pytest.fixture
async def seeded(make_service: Callable[..., Any], venice: FakeVenice, tmp_path: Path, clock: Any) -> Path:
    """A database where Pat (Discord) and a console guest said /whoami, then Mo (Telegram)
    chatted, a minute apart; Mo's group has a setting."""
    async with make_service(user_allowance_usd=1.0) as service:
        for who in (DC, GUEST):
            await ask(service, "/whoami", **who)
            clock.now += 60
        venice.script.append(ChatScript(content="Hi, Mo", cost_usd=0.25))
        await ask(service, "Hello", **TG)
        await ask(service, "/scrape off", user_id="7", is_chat_admin=True, **GROUP)
        await service.wait_idle()
    assert counts(tmp_path)["users"] == 3
    return tmp_path


MALFORMED = [
    (
        ["grant", "telegram:abc", "5"],
        "Not a valid id: 'telegram:abc'. Telegram ids are numbers, like telegram:123456789; "
        "see `venice-bots admin users`.",
    ),
    (["grant", "telegram:-5", "5"], "Telegram ids are numbers"),  # only groups are negative
    (["balance", "discord:pat"], "Discord ids are numbers (snowflakes), like discord:80351110224678912; see"),
    (["ledger", "discord:12ab"], "Discord ids are numbers"),
    (["forget", "console:"], "Console ids are console:<login name> for the operator or console:guest:<name>"),
    (["balance", "console:guest:"], "Console ids are console:<login name>"),
    (["grant", "chat:telegram:club", "1"], "Telegram chat ids are numbers, negative for groups"),
    (["forget", "chat:telegram:-1001234567890"], "This takes a user, not a chat's shared balance"),
    (["grant", "slack:1", "5"], "Name a user as platform:id (platforms: telegram, discord, console)"),
    (["grant", "telegram", "5"], "Telegram ids are numbers"),
]


UNKNOWN = [
    (["grant", "telegram:123", "5"], f"No such user: telegram:123 ({UNSEEN}; `admin grant --create`"),
    (["balance", "telegram:123"], f"No such user: telegram:123 ({UNSEEN})."),
    (["ledger", "discord:80351110224678913"], f"No such user: discord:80351110224678913 ({UNSEEN})."),
    (["forget", "telegram:123"], f"No such user: telegram:123 ({UNSEEN})."),
    (["grant", "console:local", "5"], "No such user: console:local"),  # the operator never chatted
    (["balance", "console:guest:alice"], "No such user: console:guest:alice"),
    (["grant", "chat:telegram:-100999", "5"], "No such chat: chat:telegram:-100999 (the bot has not seen"),
    (["balance", "chat:discord:42"], "No such chat: chat:discord:42"),
]


REFUSED = MALFORMED + UNKNOWN


@pytest.mark.parametrize(("args", "expected"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
async def test_a_malformed_or_unknown_id_is_refused_and_nothing_is_written(
    seeded: Path, run: Any, args: list[str], expected: str
) -> None:
    before = snapshot(seeded)
    code, out, err = await run("admin", *args)
    assert code == 1 and out == "" and expected in err and "Traceback" not in err
    assert snapshot(seeded) == before


async def test_read_commands_write_nothing_not_even_a_due_allowance(seeded: Path, run: Any) -> None:
    before = snapshot(seeded)
    assert not [a for a in before["accounts"] if "user:2" in a]  # Pat has no account yet
    code, out, _ = await run("admin", "balance", "discord:80351110224678912")
    assert code == 0
    assert out == (
        "discord:80351110224678912: $1.00 (with the daily allowance of $1.00 that is booked at their next use)\n"
    )
    for args in (
        ["users"],
        ["users", "--search", "mo"],
        ["balance", "telegram:7"],
        ["balance", "console:guest:bob"],
        ["balance", "chat:telegram:-1001234567890"],
        ["ledger", "telegram:7", "--limit", "3"],
        ["ledger", "discord:80351110224678912"],
        ["check"],
    ):
        code, _, err = await run("admin", *args)
        assert code == 0, (args, err)
    assert snapshot(seeded) == before


async def test_users_lists_ids_names_and_balances_and_searches(seeded: Path, run: Any) -> None:
    code, out, _ = await run("admin", "grant", "discord:80351110224678912", "2.50")
    assert code == 0 and "discord:80351110224678912 now has $2.50." in out
    code, out, _ = await run("admin", "users")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "BALANCE", "LAST", "MESSAGE", "(UTC)", "FIRST", "SEEN"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert list(rows) == [
        "telegram:7",
        "console:guest:bob",
        "discord:80351110224678912",
    ]  # most recently active first
    assert rows["telegram:7"][1:3] == ["Mo", "$0.75"]  # the allowance, less one answer
    assert rows["discord:80351110224678912"][1:3] == ["Pat", "$2.50"]
    assert rows["console:guest:bob"][2] == "$1.00"  # as /balance will show it (refill due)
    assert rows["discord:80351110224678912"][3] == "-"  # no stored message
    assert lines[-1] == "3 users."
    code, out, _ = await run("admin", "users", "--search", "PAT")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["discord:80351110224678912"]
    code, out, _ = await run("admin", "users", "--search", "console:")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["console:guest:bob"]
    code, out, _ = await run("admin", "users", "--search", "100%_")
    assert code == 0 and out == "No user's id or name contains '100%_'.\n"  # % and _ are literal
    code, out, _ = await run("admin", "users", "--limit", "1")
    assert out.splitlines()[1].startswith("telegram:7")
    assert out.splitlines()[-1].startswith("Showing 1 of 3 users, most recently active first")


async def test_users_on_an_empty_database_says_so(tmp_path: Path, run: Any) -> None:
    assert (await run("migrate"))[0] == 0
    code, out, _ = await run("admin", "users")
    assert code == 0 and out == "No users yet: nobody has written to the bot.\n"


async def test_grant_credits_a_known_user_a_pool_and_a_linked_users_shared_balance(
    seeded: Path, run: Any, make_service: Callable[..., Any]
) -> None:
    code, out, _ = await run("admin", "grant", "telegram:7", "5")
    assert code == 0 and out == "telegram:7 now has $5.75.\n"
    code, out, _ = await run("admin", "grant", "chat:telegram:-1001234567890", "3")
    assert code == 0 and out == "chat:telegram:-1001234567890 now has $3.00.\n"
    code, out, _ = await run("admin", "ledger", "telegram:7")
    assert (
        out.startswith("telegram:7: $5.75\nLatest entries (newest first, times in UTC):") and "grant" in out
    )
    async with make_service(user_allowance_usd=1.0) as service:  # Pat joins Mo's balance
        code_text = (await ask(service, "/link", **TG)).text.split("code: ")[1].split()[0]
        await ask(service, f"/link {code_text}", **DC)
    code, out, _ = await run("admin", "grant", "discord:80351110224678912", "1")
    # Mo's $5.75, Pat's allowance moved over when linking, and this $1:
    assert out == "discord:80351110224678912 now has $7.75 (one balance with telegram:7).\n"
    code, out, _ = await run("admin", "users", "--search", "pat")
    assert "via telegram:7" in out
    code, out, _ = await run("admin", "check")
    assert code == 0 and "all balances match" in out


async def test_grant_create_funds_someone_before_their_first_message(
    seeded: Path, run: Any, make_service: Callable[..., Any]
) -> None:
    before = counts(seeded)
    code, _, err = await run("admin", "grant", "--create", "telegram:555", "lots")
    assert code == 1 and "not an amount in USD" in err and counts(seeded) == before  # checked first
    code, _, err = await run("admin", "grant", "--create", "telegram:555", "0")
    assert code == 1 and "zero" in err and counts(seeded) == before
    code, out, _ = await run("admin", "grant", "--create", "telegram:555", "2")
    assert code == 0 and out == "telegram:555 now has $2.00.\n"
    async with make_service(user_allowance_usd=0.0) as service:
        await ask(service, "Hi, I am new", platform="telegram", user_id="555", user_name="Neo")
    code, out, _ = await run("admin", "users", "--search", "neo")
    assert out.splitlines()[1].split()[:2] == ["telegram:555", "Neo"]  # the name arrives with them


async def test_forget_deletes_a_known_users_messages(seeded: Path, run: Any) -> None:
    code, out, _ = await run("admin", "forget", "telegram:7")
    assert code == 0
    assert (
        out
        == "Forgot telegram:7: deleted 2 messages in 1 conversation (1 conversation removed whole), 0 chat settings.\n"
    )
    assert counts(seeded)["messages"] == 0


async def test_an_admin_command_on_a_missing_database_creates_nothing(tmp_path: Path, run: Any) -> None:
    for args in (["users"], ["balance", "telegram:7"], ["grant", "--create", "telegram:7", "1"]):
        code, out, err = await run("admin", *args)
        assert code == 1 and out == "" and f"There is no database at {tmp_path}/bot.db" in err
    assert list(tmp_path.iterdir()) == []


async def test_an_admin_command_on_a_database_behind_the_code_changes_nothing(
    tmp_path: Path, run: Any
) -> None:
    """After an upgrade, before the bot (or `migrate`) has run: no admin command migrates the
    database under a bot that may still be running the old version."""
    database = tmp_path / "bot.db"
    (tmp_path / "scratch").mkdir()
    await create_database(database, len(discover()) - 2, scratch=tmp_path / "scratch")
    listing = sorted(p.name for p in tmp_path.iterdir())
    before = database.read_bytes(), counts(tmp_path)
    for args in (["users"], ["balance", "telegram:7"], ["grant", "--create", "telegram:7", "1"], ["check"]):
        code, out, err = await run("admin", *args)
        assert code == 1 and out == "", (args, out)
        assert f"is at schema {len(discover()) - 2} of {len(discover())}: run `venice-bots migrate`" in err
    assert (database.read_bytes(), counts(tmp_path)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_every_admin_action_and_option_has_help() -> None:
    parser = cli.build_parser()
    admin = _subparsers(parser)["admin"]
    assert admin.description and admin.epilog and "console:guest:<name>" in admin.epilog
    actions = _subparsers(admin)
    assert set(actions) == {"users", "grant", "balance", "ledger", "check", "forget"}
    for name, action in actions.items():
        assert action.description, name
        for option in action._actions:
            assert option.help, f"admin {name} {option.dest}"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (group,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(group.choices)


async def test_whoami_in_the_console_and_in_a_telegram_group(make_service: Callable[..., Any]) -> None:
    read_line, write, out = scripted_io(["/whoami"])
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, user_id="ops").run()
        group = (await ask(service, "/whoami", user_id="7", user_name="Mo", **GROUP)).text
        help_text = (await ask(service, "/help", **TG)).text
    text = "".join(out)
    assert "Your id: console:ops, as ADMIN_USER_IDS and `venice-bots admin` take it" in text
    assert "This chat: console:terminal (a private chat)" in text
    assert "Bot admin: yes (the console's operator always is)" in text
    assert group.splitlines() == [
        "Your id: telegram:7 (Mo), as ADMIN_USER_IDS and `venice-bots admin` take it",
        "This chat: telegram:-1001234567890; its shared balance (/pool) is chat:telegram:-1001234567890",
        "Bot admin: no",
    ]
    assert "/whoami — Your id" in help_text
