"""Custom personas and imported cards in SQLite."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from adapters.storage.sqlite.database import Database
from core.characters.cards import Persona
from core.errors import InvalidInput


class PersonaStore:
    """Create, read, change and delete personas; names are unique whatever their case."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # By id: a bound persona is read for every message of its chat; this process is the
        # only writer, so the cache stays true.
        self._by_id: dict[int, Persona | None] = {}

    async def create(self, persona: Persona, *, actor: str) -> Persona:
        """Store a new persona; refuses a name that is taken."""
        now = self._clock()
        try:
            async with self._db.transaction(begin=False) as conn:
                cursor = await conn.execute(
                    "INSERT INTO personas (name, fields, created_by, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (persona.name, json.dumps(persona.to_json()), actor, now, now),
                )
                row_id = int(cursor.lastrowid or 0)
            self._by_id.pop(row_id, None)
        except sqlite3.IntegrityError:
            raise InvalidInput(
                f"There is a persona called {persona.name} already. Pick another name, "
                "or change it with /persona edit."
            ) from None
        return Persona.from_json(persona.to_json(), id=row_id)

    async def update(self, persona: Persona) -> None:
        """Save a changed persona."""
        await self._db.execute(
            "UPDATE personas SET fields = ?, updated_at = ? WHERE id = ?",
            (json.dumps(persona.to_json()), self._clock(), persona.id),
        )
        self._by_id.pop(persona.id or 0, None)

    async def delete(self, persona_id: int) -> None:
        """Remove a persona."""
        await self._db.execute("DELETE FROM personas WHERE id = ?", (persona_id,))
        self._by_id.pop(persona_id, None)

    async def by_name(self, name: str) -> Persona | None:
        """The persona of that name, any case."""
        row = await self._db.fetchone(
            "SELECT id, fields FROM personas WHERE lower(name) = lower(?)", (name.strip(),)
        )
        return Persona.from_json(json.loads(row[1]), id=int(row[0])) if row else None

    async def get(self, persona_id: int) -> Persona | None:
        """The persona with that id."""
        if persona_id not in self._by_id:
            row = await self._db.fetchone("SELECT id, fields FROM personas WHERE id = ?", (persona_id,))
            self._by_id[persona_id] = Persona.from_json(json.loads(row[1]), id=int(row[0])) if row else None
        return self._by_id[persona_id]

    async def all(self) -> list[Persona]:
        """Every persona, by name."""
        rows = await self._db.fetchall("SELECT id, fields FROM personas ORDER BY lower(name)")
        return [Persona.from_json(json.loads(r[1]), id=int(r[0])) for r in rows]
