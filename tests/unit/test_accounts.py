"""Names of users and chats' shared balances, checked against each platform's id form."""

from __future__ import annotations

import pytest

from core.billing.accounts import AccountName, MalformedName, parse_account_name

HINT = "see the list"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("telegram:123456789", AccountName("telegram", "123456789")),
        (" Telegram:42 ", AccountName("telegram", "42")),  # the platform in any case
        ("discord:18446744073709551615", AccountName("discord", "18446744073709551615")),  # 2**64 - 1
        ("console:alice", AccountName("console", "alice")),
        ("console:guest:bob", AccountName("console", "guest:bob")),
        ("chat:telegram:-1001234567890", AccountName("telegram", "-1001234567890", is_chat=True)),
        ("chat:discord:80351110224678912", AccountName("discord", "80351110224678912", is_chat=True)),
        ("chat:console:terminal", AccountName("console", "terminal", is_chat=True)),
    ],
)
def test_well_formed_names(text: str, expected: AccountName) -> None:
    assert parse_account_name(text, hint=HINT) == expected


@pytest.mark.parametrize(
    "text",
    [
        "telegram:0",
        "telegram:0123",
        "telegram:-5",
        "telegram:1e5",
        "discord:18446744073709551616",  # beyond 64 bits: no snowflake
        "discord:",
        "console:guest:",
        "console:two words",
        "chat:telegram:club",
        "chat:discord:-5",
        "chat:slack:1",
        "chat:telegram:",
        "slack:1",
        "123",  # no platform, and none to assume
    ],
)
def test_malformed_names_are_refused_with_the_hint(text: str) -> None:
    with pytest.raises(MalformedName) as info:
        parse_account_name(text, hint=HINT)
    assert info.value.user_message.endswith(f"; {HINT}.") and repr(text.strip()) in info.value.user_message


def test_a_bare_id_is_on_the_callers_platform_and_chats_can_be_refused() -> None:
    assert parse_account_name("7", default_platform="telegram", hint=HINT) == AccountName("telegram", "7")
    assert str(parse_account_name("chat:telegram:-100", hint=HINT)) == "chat:telegram:-100"
    with pytest.raises(MalformedName, match="takes a user, not a chat"):
        parse_account_name("chat:telegram:-100", chats=False, hint=HINT)
