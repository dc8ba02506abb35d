-- Requests about the instance itself (terminate, suspend, resume, rewind) are marked so a
-- suspended instance is fetched only for them.
ALTER TABLE messages ADD COLUMN control INTEGER NOT NULL DEFAULT 0;
