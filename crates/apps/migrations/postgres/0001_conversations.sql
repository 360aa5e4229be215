-- Conversations and their turns. Times are milliseconds since the Unix epoch; `last_seq` is
-- the seq of the newest turn, taken and bumped in the transaction that appends one.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    channel TEXT NOT NULL,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'handed-off', 'closed')),
    last_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE turns (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    text TEXT NOT NULL,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
