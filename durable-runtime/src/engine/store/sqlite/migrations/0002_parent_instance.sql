-- Sub-orchestrations remember their parent (JSON: instanceId, executionId, taskScheduledId)
-- so their result can be sent back.
ALTER TABLE instances ADD COLUMN parent TEXT;
