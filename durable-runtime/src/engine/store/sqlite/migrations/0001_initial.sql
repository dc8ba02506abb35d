-- Instances, their histories, their queued messages and their activity work.
-- Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE instances (
    instance_id    TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    execution_id   TEXT NOT NULL,
    status         TEXT NOT NULL,
    input          TEXT NOT NULL,
    output         TEXT NOT NULL DEFAULT 'null',
    custom_status  TEXT NOT NULL DEFAULT 'null',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    completed_at   INTEGER,
    history_length INTEGER NOT NULL DEFAULT 0,
    lock_owner     TEXT,
    lock_expires   INTEGER
);

CREATE INDEX instances_by_created ON instances (created_at, instance_id);

CREATE TABLE history (
    instance_id  TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    event        TEXT NOT NULL,
    PRIMARY KEY (instance_id, execution_id, seq)
) WITHOUT ROWID;

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    event        TEXT NOT NULL,
    visible_at   INTEGER NOT NULL
);

CREATE INDEX messages_by_instance ON messages (instance_id, id);
CREATE INDEX messages_by_visible ON messages (visible_at, id);

CREATE TABLE activities (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id   TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    task_id       INTEGER NOT NULL,
    name          TEXT NOT NULL,
    input         TEXT NOT NULL,
    lock_owner    TEXT,
    lock_expires  INTEGER,
    dequeue_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX activities_by_instance ON activities (instance_id);
