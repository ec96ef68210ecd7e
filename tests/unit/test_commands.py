"""The registry parses arguments with clear usage errors."""

from typing import Any

import pytest

from core.commands import Access, Arg, ArgType, Audience, Command, CommandContext, CommandRegistry
from core.errors import PermissionDenied, UnknownCommand, UsageError
from core.events import IncomingMessage, Reply


async def echo(ctx: CommandContext, args: dict[str, Any]) -> Reply:
    return Reply(repr(sorted(args.items())))


def registry() -> CommandRegistry:
    r = CommandRegistry()
    r.add(Command("mode", "Set a mode", echo, (Arg("mode", "m", choices=("off", "on")),)))
    r.add(
        Command(
            "say",
            "Say",
            echo,
            (
                Arg("times", "n", ArgType.INTEGER, required=True),
                Arg("text", "t", ArgType.TEXT, required=True),
            ),
        )
    )
    r.add(Command("admin", "Admin only", echo, access=Access.BOT_ADMIN))
    return r


def ctx(admin: bool = False, direct: bool = True) -> CommandContext:
    return CommandContext(IncomingMessage("test", "c", "u", "", is_direct=direct), admin)


def test_parse_choices_case_insensitive_and_botname_suffix() -> None:
    command, args = registry().parse("/mode@venice_bot ON")
    assert command.name == "mode" and args == {"mode": "on"}


def test_text_argument_takes_the_rest_of_the_line() -> None:
    _, args = registry().parse("/say 3 hello   there")
    assert args == {"times": 3, "text": "hello   there"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/mode maybe", "/mode takes off or on, not 'maybe'."),
        ("/say", "/say needs a times (n)."),
        ("/say x hi", "<times> must be a whole number, not 'x'."),
        ("/mode on extra", "/mode does not take 'extra'."),
    ],
)
def test_usage_errors_name_the_problem_and_the_usage(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        registry().parse(text)
    assert fragment in info.value.user_message
    assert "Usage: /" in info.value.user_message


def test_a_missing_argument_reads_naturally_and_shows_an_example() -> None:
    r = CommandRegistry()
    r.add(
        Command(
            "draw",
            "Draw",
            echo,
            (
                Arg("prompt", "What the picture shows", ArgType.TEXT, required=True, example="a fox"),
                Arg("seed", "Seed", ArgType.INTEGER, option=True),
            ),
        )
    )
    r.add(Command("tell", "Tell", echo, (Arg("text", "t", ArgType.TEXT, required=True, what="something"),)))
    with pytest.raises(UsageError) as info:
        r.parse("/draw")
    assert info.value.user_message.startswith(
        "/draw needs a prompt (what the picture shows). Example: /draw a fox\nUsage: /draw <prompt>"
    )
    with pytest.raises(UsageError, match="^/tell needs something.\nUsage: /tell <text>$"):
        r.parse("/tell")
    with pytest.raises(UsageError, match="--seed must be a whole number, not 'x'"):
        r.parse("/draw a fox --seed x")


def test_unknown_command() -> None:
    with pytest.raises(UnknownCommand) as info:
        registry().parse("/frobnicate now")
    assert "/frobnicate" in info.value.user_message and "/help" in info.value.user_message


async def test_bot_admin_commands_are_checked() -> None:
    r = registry()
    command, args = r.parse("/admin")
    with pytest.raises(PermissionDenied):
        await r.run(ctx(admin=False), command, args)
    assert (await r.run(ctx(admin=True), command, args)).text == "[]"
    assert [c.name for c in r.visible_to(ctx())] == ["mode", "say"]


def test_usage_string() -> None:
    assert registry().get("say").usage == "/say <times> <text>"
    assert registry().get("mode").usage == "/mode [off|on]"


def test_an_action_that_only_shows_something_is_answered_to_its_asker() -> None:
    command = Command(
        "thing", "Things", echo, (Arg("action", "a", choices=("search", "set")),), private_actions=("search",)
    )
    assert command.audience_for("Search sherlock") is Audience.ASKER
    assert command.audience_for("set sherlock") is Audience.CHANGE  # the definition's own audience
    assert command.audience_for("") is Audience.CHANGE
