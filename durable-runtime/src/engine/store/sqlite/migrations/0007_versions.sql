-- Orchestration versions: the version an instance started with, and its sort key (see
-- `crate::version::sort_key`) that fetches filter on. Entities have no key: every host
-- takes them. Instances from before versions have no version, the oldest key.
ALTER TABLE instances ADD COLUMN version TEXT;
ALTER TABLE instances ADD COLUMN version_key TEXT;
UPDATE instances SET version_key = '' WHERE substr(instance_id, 1, 1) <> '@';
