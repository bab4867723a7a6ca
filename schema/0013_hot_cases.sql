-- Case rows PostgreSQL can update in place (docs/STORE.md, "Indexes, and
-- updates in place"). An update is HOT (no index touched) only when no indexed
-- column changes, predicates of partial indexes included; cases_due indexed
-- follow_up_due, status and follow_up_late, which a case's first compensation
-- and its follow-up change, so neither update was HOT and each wrote an entry
-- into every index of cases.

-- Which open cases await their first follow-up, and by when: a narrow table
-- of its own, written by the writer in the same transaction as the case row.
-- A row exists exactly while its case is open, not yet followed up, and has a
-- deadline (cases.follow_up_due); `rebuild --check` verifies that.
CREATE TABLE follow_ups_due (
    case_id  text        PRIMARY KEY,
    due      timestamptz NOT NULL
);
-- DUE: by deadline, oldest first.
CREATE INDEX follow_ups_due_by_due ON follow_ups_due (due, case_id);

INSERT INTO follow_ups_due (case_id, due)
    SELECT case_id, follow_up_due FROM cases
    WHERE status = 'open' AND follow_up_late IS NULL AND follow_up_due IS NOT NULL;

DROP INDEX cases_due;

-- cases_newest_first leads with opened_day and serves every query that
-- cases_by_day did (ranges of days).
DROP INDEX cases_by_day;

-- The decider records no compensation for a case it does not know, and the
-- check took a row lock on the case row (a write to its page) per compensation.
ALTER TABLE case_compensations DROP CONSTRAINT case_compensations_case_id_fkey;

-- On a database provisioned by deploy/roles.sql before this migration, the
-- daemon's and the readers' roles are given the new table here.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'recoveryd') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON follow_ups_due TO recoveryd;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_reader') THEN
        GRANT SELECT ON follow_ups_due TO ledger_reader;
    END IF;
END
$$;
