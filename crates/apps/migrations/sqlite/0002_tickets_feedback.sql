-- Handoff tickets (numbered from 1001 for people to quote) and feedback on turns.
CREATE TABLE tickets (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    transcript TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'in-progress', 'resolved')),
    assignee TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) VALUES ('tickets', 1000);
CREATE INDEX tickets_status ON tickets (status, number);
CREATE INDEX tickets_conversation ON tickets (conversation_id);

CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    turn_seq INTEGER,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down', '1', '2', '3', '4', '5')),
    comment TEXT,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (conversation_id, turn_seq) REFERENCES turns (conversation_id, seq) ON DELETE CASCADE
);
CREATE INDEX feedback_conversation ON feedback (conversation_id);
