"""The one base class for every failure a user may be told about."""

from __future__ import annotations


class BotError(Exception):
    """Base of every expected failure; carries a message fit to show a user.

    Adapters turn a ``BotError`` into a reply in exactly one place; anything that is not a
    ``BotError`` is a bug, logged with its traceback and answered with a short apology.
    """

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class InvalidInput(BotError):
    """The user's message or arguments cannot be used as they are."""


class UnknownCommand(InvalidInput):
    """A slash command that the registry does not know."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown command /{name}. Send /help for the list of commands.")
        self.name = name


class UsageError(InvalidInput):
    """A known command called with arguments it cannot take."""

    def __init__(self, problem: str, usage: str, *, example: str = "") -> None:
        shown = f"{problem} Example: {example}" if example else problem
        super().__init__(f"{shown}\nUsage: {usage}")
        self.problem = problem
        self.usage = usage
        self.example = example  # the command with sample arguments, when the problem is a missing one


class PermissionDenied(BotError):
    """The caller may not run this command here."""


class ConfigurationError(BotError):
    """A setting is missing or invalid; the process cannot start."""


class StorageUnavailable(BotError):
    """The database cannot save: the disk is full, the file is read-only, or the disk fails.

    ``cause`` is one of ``CAUSES``; ``where`` names the database (for the admins' notice).
    """

    DISK_FULL = "disk full"
    READ_ONLY = "read-only"
    IO_ERROR = "I/O error"
    CANNOT_OPEN = "cannot open"
    CAUSES = (DISK_FULL, READ_ONLY, IO_ERROR, CANNOT_OPEN)

    def __init__(self, cause: str, *, where: str, detail: str) -> None:
        super().__init__(
            "The bot can't save right now, so it can't answer this. Please try again later.",
            detail=detail,
        )
        self.cause = cause
        self.where = where

    @property
    def advice(self) -> str:
        """What is wrong and what the operator should do, in one sentence for admins."""
        what = {
            self.DISK_FULL: "the disk is full. Free some space on the disk that holds {where}.",
            self.READ_ONLY: (
                "the database is read-only. Give the bot's user write access to {where} and its "
                "folder, or remount the disk read-write."
            ),
            self.IO_ERROR: (
                "the disk reports I/O errors. Check the disk that holds {where} (kernel log, "
                "free space, health)."
            ),
            self.CANNOT_OPEN: (
                "the database file cannot be opened. Check that {where} and its folder exist "
                "and are writable."
            ),
        }.get(self.cause, "{where} cannot be written.")
        return f"The bot cannot save to its database: {what.format(where=self.where)}"
