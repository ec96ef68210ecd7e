-- Long-term recall: pieces of stored messages (and of documents sent in a conversation) with
-- their embeddings, searched by cosine similarity within one conversation only.
-- A chunk goes with its message (/forget, retention, a regenerated turn) and with its
-- conversation: both by cascade (the connection turns foreign keys on).
-- id is AUTOINCREMENT, never reused: the vector cache knows it is current from a
-- conversation's (count, highest id) alone (adapters/storage/sqlite/vectors.py).
CREATE TABLE memory_chunks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('message', 'document')),
    role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    text            TEXT    NOT NULL,
    tokens          INTEGER NOT NULL,
    model           TEXT    NOT NULL,             -- the embedding model: vectors of two models never mix
    vector          BLOB    NOT NULL,             -- little-endian float32, as the model returned it
    created_at      REAL    NOT NULL
);
-- A search reads one conversation's vectors of one model.
CREATE INDEX memory_chunks_by_conversation ON memory_chunks (conversation_id, model);
-- Deleting a message finds its chunks by this index (else each delete would scan the table).
CREATE INDEX memory_chunks_by_message ON memory_chunks (message_id);
