-- How many times an instance's turn was handed out without committing: a turn that kills
-- its host every time becomes a poison message instead of a crash loop.
ALTER TABLE instances ADD COLUMN dequeue_count BIGINT NOT NULL DEFAULT 0;
