"""Custom personas and imported cards in PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import asyncpg

from adapters.storage.postgres.database import Database
from core.characters.cards import Persona
from core.errors import InvalidInput

_ROW = "SELECT id, fields FROM personas "


class PersonaStore:
    """Create, read, change and delete personas; names are unique whatever their case.

    Not cached: an edit made through one worker must show in the next message any worker
    answers, and a read by primary key is as cheap as checking a cached copy.
    """

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(self, persona: Persona, *, actor: str) -> Persona:
        """Store a new persona; refuses a name that is taken."""
        now = self._clock()
        try:
            row_id = await self._db.fetchval(
                "INSERT INTO personas (name, fields, created_by, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $4) RETURNING id",
                persona.name,
                json.dumps(persona.to_json()),
                actor,
                now,
            )
        except asyncpg.UniqueViolationError:
            raise InvalidInput(
                f"There is a persona called {persona.name} already. Pick another name, "
                "or change it with /persona edit."
            ) from None
        return Persona.from_json(persona.to_json(), id=int(row_id))

    async def update(self, persona: Persona) -> None:
        """Save a changed persona."""
        await self._db.execute(
            "UPDATE personas SET fields = $1, updated_at = $2 WHERE id = $3",
            json.dumps(persona.to_json()),
            self._clock(),
            persona.id,
        )

    async def delete(self, persona_id: int) -> None:
        """Remove a persona."""
        await self._db.execute("DELETE FROM personas WHERE id = $1", persona_id)

    async def by_name(self, name: str) -> Persona | None:
        """The persona of that name, any case."""
        row = await self._db.fetchrow(_ROW + "WHERE lower(name) = lower($1)", name.strip())
        return _persona(row) if row else None

    async def get(self, persona_id: int) -> Persona | None:
        """The persona with that id."""
        row = await self._db.fetchrow(_ROW + "WHERE id = $1", persona_id)
        return _persona(row) if row else None

    async def all(self) -> list[Persona]:
        """Every persona, by name (in code-point order whatever the server's locale, as SQLite)."""
        return [_persona(row) for row in await self._db.fetch(_ROW + 'ORDER BY lower(name) COLLATE "C"')]


def _persona(row: asyncpg.Record) -> Persona:
    return Persona.from_json(json.loads(row["fields"]), id=int(row["id"]))
