-- One row a health check rewrites, with a payload the size of a small turn, to learn
-- whether the store still takes durable writes (a full disk or a read-only file refuses
-- them while reads still work).
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    checked_at INTEGER NOT NULL,
    payload BLOB NOT NULL
);
