-- Instances, their histories, their queued messages and their activity work, in the task
-- hub's own schema (the connection's search_path).
-- Times are milliseconds since the Unix epoch, UTC, from the hosts' clocks.
-- JSON is kept as the text the host wrote: the store never looks inside it.
-- Instance ids compare byte by byte (COLLATE "C"), as in the other stores.

CREATE TABLE instances (
    instance_id    TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    execution_id   TEXT NOT NULL,
    status         TEXT NOT NULL,
    input          TEXT NOT NULL,
    output         TEXT NOT NULL DEFAULT 'null',
    custom_status  TEXT NOT NULL DEFAULT 'null',
    parent         TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    completed_at   BIGINT,
    history_length BIGINT NOT NULL DEFAULT 0,
    lock_owner     TEXT,
    lock_expires   BIGINT
);

CREATE INDEX instances_by_created ON instances (created_at, instance_id);

CREATE TABLE history (
    instance_id  TEXT COLLATE "C" NOT NULL,
    execution_id TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    event        TEXT NOT NULL,
    PRIMARY KEY (instance_id, execution_id, seq)
);

-- `control` marks requests about the instance itself (terminate, suspend, resume, rewind):
-- a suspended instance is fetched only for them.
CREATE TABLE messages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id  TEXT COLLATE "C" NOT NULL,
    execution_id TEXT NOT NULL,
    event        TEXT NOT NULL,
    visible_at   BIGINT NOT NULL,
    control      BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX messages_by_instance ON messages (instance_id, id);
CREATE INDEX messages_by_visible ON messages (visible_at, id);

CREATE TABLE activities (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id   TEXT COLLATE "C" NOT NULL,
    execution_id  TEXT NOT NULL,
    task_id       BIGINT NOT NULL,
    name          TEXT NOT NULL,
    input         TEXT NOT NULL,
    lock_owner    TEXT,
    lock_expires  BIGINT,
    dequeue_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX activities_by_instance ON activities (instance_id);
