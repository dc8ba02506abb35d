-- The last tick each timer trigger fired for, so a tick fires once across hosts and a
-- tick missed while no host ran fires once on start.
CREATE TABLE timer_triggers (
    name      TEXT PRIMARY KEY,
    last_tick BIGINT NOT NULL
);
