/**
 * zerodown's own tables (seed §10). Their names and columns are a contract: other parts of
 * zerodown (the staging gate) and operators' own queries read them, so columns are only ever added.
 *
 * Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, with two exceptions.
 * - A deployment's row is written when the run starts and completed when it ends: each of its
 *   columns may go from NULL to a value once, and never change after (write-once columns).
 * - The retention archiver deletes rows only inside its own transaction, after the archive file
 *   was written and read back whole; it marks that transaction with `SET LOCAL zerodown.archiving`.
 */
/** Bumped with every change below; a database at this version is not touched again. */
export const recordsSchemaVersion = 'zerodown records schema 1';

export const recordsSchemaSql = `
CREATE SCHEMA IF NOT EXISTS zerodown;

CREATE TABLE IF NOT EXISTS zerodown.deployments (
  run_id           text PRIMARY KEY,
  workflow_id      text NOT NULL,
  service          text NOT NULL,
  environment      text,
  version          text NOT NULL,
  previous_version text,
  from_digest      text,
  to_digest        text,
  requested_by     text,
  started_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  outcome          text CHECK (outcome IN ('succeeded', 'rolled-back', 'failed', 'aborted')),
  rollback_reason  text,
  recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deployments_service_started ON zerodown.deployments (service, started_at DESC);
CREATE INDEX IF NOT EXISTS deployments_to_digest ON zerodown.deployments (to_digest);

CREATE TABLE IF NOT EXISTS zerodown.deployment_events (
  run_id   text NOT NULL,
  seq      integer NOT NULL CHECK (seq >= 0),
  at       timestamptz NOT NULL,
  service  text NOT NULL,
  kind     text NOT NULL,
  who      text,
  instance text,
  message  text NOT NULL,
  details  jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS deployment_events_service_at ON zerodown.deployment_events (service, at);
CREATE INDEX IF NOT EXISTS deployment_events_at ON zerodown.deployment_events (at);

CREATE OR REPLACE FUNCTION zerodown.refuse_changes() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('zerodown.archiving', true) = 'verified' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'zerodown.% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'records leave only through the retention archiver (docs/records.md)';
END
$fn$;

CREATE OR REPLACE FUNCTION zerodown.write_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  changed text;
BEGIN
  SELECT string_agg(o.key, ', ') INTO changed
    FROM jsonb_each(to_jsonb(OLD)) AS o
   WHERE o.value <> 'null'::jsonb AND o.value IS DISTINCT FROM to_jsonb(NEW) -> o.key;
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION 'zerodown.% is append-only: % already set', TG_TABLE_NAME, changed
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'a recorded value never changes; only empty columns may be filled in';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER deployments_write_once BEFORE UPDATE ON zerodown.deployments
  FOR EACH ROW EXECUTE FUNCTION zerodown.write_once();
CREATE OR REPLACE TRIGGER deployments_no_delete BEFORE DELETE ON zerodown.deployments
  FOR EACH ROW EXECUTE FUNCTION zerodown.refuse_changes();
CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON zerodown.deployment_events
  FOR EACH ROW EXECUTE FUNCTION zerodown.refuse_changes();
CREATE OR REPLACE TRIGGER deployments_no_truncate BEFORE TRUNCATE ON zerodown.deployments
  FOR EACH STATEMENT EXECUTE FUNCTION zerodown.refuse_changes();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON zerodown.deployment_events
  FOR EACH STATEMENT EXECUTE FUNCTION zerodown.refuse_changes();

COMMENT ON SCHEMA zerodown IS '${recordsSchemaVersion}';
`;
