-- Follow-up deadlines (DESIGN.md §2, "Recovery practice"): when a case's first
-- follow-up is due, and once it is recorded, whether it came late. Rows written
-- before this migration have NULL here until `recoveryd rebuild --write`.
ALTER TABLE cases ADD COLUMN follow_up_due timestamptz, ADD COLUMN follow_up_late boolean;
-- DUE: open cases not yet followed up, by deadline.
CREATE INDEX cases_due ON cases (follow_up_due, case_id) WHERE status = 'open' AND follow_up_late IS NULL;
-- Follow-up deadlines are stored in the cases rows, so the number of days is a
-- setting of the ledger like its time zone: fixed at the first start.
ALTER TABLE ledger_settings ADD COLUMN follow_up_within_days integer NOT NULL DEFAULT 2 CHECK (follow_up_within_days BETWEEN 0 AND 365);
