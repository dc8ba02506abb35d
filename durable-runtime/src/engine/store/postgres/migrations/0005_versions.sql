-- Orchestration versions: the version an instance started with, and its sort key (see
-- `crate::version::sort_key`) that fetches filter on, compared byte by byte. Entities have
-- no key: every host takes them. Instances from before versions have the oldest key.
ALTER TABLE instances ADD COLUMN version TEXT;
ALTER TABLE instances ADD COLUMN version_key TEXT COLLATE "C";
UPDATE instances SET version_key = '' WHERE NOT starts_with(instance_id, '@');
