-- The log is the only truth (docs/EVENTS.md, "Settings"): the settings in
-- force are a projection of ledger_setting events, written in the same
-- transaction as them like every other projection row. The ledger_settings
-- table of earlier versions is read once, when a ledger is upgraded, and
-- emptied then (docs/OPERATIONS.md, "Upgrades").
CREATE TABLE setting_changes (
    -- The ledger_setting event's position.
    position   bigint PRIMARY KEY,
    name       text   NOT NULL CHECK (name IN ('default_allowance', 'supervisor_allowance', 'customer_daily_cap',
                                               'warn_below_percent', 'follow_up_within_days', 'repeat_window_days',
                                               'currency', 'time_zone')),
    -- The business day it applies from; 0001-01-01 for the ledger's opening
    -- settings, which hold from its first position.
    since_day  date   NOT NULL,
    -- Integers in decimal, texts as written; NULL is none (no customer cap).
    value      text
);

-- at= answers read every setting up to their position (docs/PROTOCOL.md).
CREATE INDEX events_settings ON events (position) WHERE type = 'ledger_setting';

-- An allowance event without daily_limit: the person follows their role's default.
ALTER TABLE allowances ALTER COLUMN daily_limit DROP NOT NULL;

-- Closed days: a reversal recorded on a later day than its charge is a
-- negative entry of its own day, and never changes the day of the charge.
ALTER TABLE budget_days
    ADD COLUMN late_reversals integer NOT NULL DEFAULT 0 CHECK (late_reversals >= 0),
    ADD COLUMN late_reversed  bigint  NOT NULL DEFAULT 0 CHECK (late_reversed >= 0);

-- Per compensation: who recorded it (who may reverse it), its position, whether
-- a supervisor lifted the customer's cap for it, and the day and position of
-- its reversal. SPENDING reads charges and reversals each on their own day,
-- and as of any position.
ALTER TABLE case_compensations
    ADD COLUMN recorded_by       text    NOT NULL DEFAULT '',
    ADD COLUMN position          bigint  NOT NULL DEFAULT 0,
    ADD COLUMN cap_override      boolean NOT NULL DEFAULT false,
    ADD COLUMN reversed_day      date,
    ADD COLUMN reversed_position bigint;
CREATE INDEX case_compensations_by_reversed_day ON case_compensations (reversed_day, charged_to) WHERE reversed_day IS NOT NULL;

-- Which fold wrote the projection rows: a daemon whose fold is newer rebuilds
-- them from the log when it starts (docs/OPERATIONS.md, "Upgrades").
ALTER TABLE ledger_checkpoint ADD COLUMN projection_version integer NOT NULL DEFAULT 1;
