-- Long-term recall: pieces of stored messages (and of documents sent in a conversation) with
-- their embeddings, searched by cosine similarity within one conversation only (in the worker's
-- process: adapters/storage/postgres/vectors.py). As migrations/sqlite/0011_memory_chunks.sql.
-- A chunk goes with its message (/forget, retention, a regenerated turn) and with its
-- conversation: both by cascade.
-- id comes from a sequence and is never reused; adds to one conversation take a lock, so they
-- commit in id order and a worker's cached block knows it is current from the conversation's
-- (count, highest id) alone, whichever worker wrote.
CREATE TABLE memory_chunks (
    id              bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint           NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      bigint           NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind            text             NOT NULL CHECK (kind IN ('message', 'document')),
    role            text             NOT NULL CHECK (role IN ('user', 'assistant')),
    text            text             NOT NULL,
    tokens          integer          NOT NULL,
    model           text             NOT NULL,  -- the embedding model: vectors of two models never mix
    vector          bytea            NOT NULL,  -- little-endian float32, as the model returned it
    created_at      double precision NOT NULL
);
-- Floats do not compress: store vectors out of line as they are, without trying.
ALTER TABLE memory_chunks ALTER COLUMN vector SET STORAGE EXTERNAL;
-- A search reads one conversation's vectors of one model in id order, and its (count, highest
-- id) from this index alone.
CREATE INDEX memory_chunks_by_conversation ON memory_chunks (conversation_id, model, id);
-- Deleting a message finds its chunks by this index (else each delete would scan the table).
CREATE INDEX memory_chunks_by_message ON memory_chunks (message_id);

-- What retention and /forget look messages up by (PostgreSQL does not index a foreign key by
-- itself): a user's messages, and the oldest messages first.
CREATE INDEX IF NOT EXISTS messages_by_user ON messages (user_id);
CREATE INDEX IF NOT EXISTS messages_by_age ON messages (created_at);
