-- One row per host a health check rewrites, to learn whether the hub still takes writes
-- (a full disk or a read-only database refuses them while reads still work).
CREATE TABLE health_probe (
    host TEXT PRIMARY KEY,
    checked_at BIGINT NOT NULL,
    payload BYTEA NOT NULL
);
