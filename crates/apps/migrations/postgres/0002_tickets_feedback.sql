-- Handoff tickets (numbered from 1001 for people to quote) and feedback on turns.
CREATE TABLE tickets (
    number BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 1001) PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    transcript TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'in-progress', 'resolved')),
    assignee TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, number);
CREATE INDEX tickets_conversation ON tickets (conversation_id);

CREATE TABLE feedback (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    turn_seq BIGINT,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down', '1', '2', '3', '4', '5')),
    comment TEXT,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (conversation_id, turn_seq) REFERENCES turns (conversation_id, seq) ON DELETE CASCADE
);
CREATE INDEX feedback_conversation ON feedback (conversation_id);
