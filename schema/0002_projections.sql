-- Projection tables (DESIGN.md §2, §3): what the deciders' state holds, written
-- in the same transaction as the events they follow, so plain SQL always sees
-- a consistent state. A rebuild from the log must produce exactly these rows.

-- One row per case: the recovery outcome and what led to it.
CREATE TABLE cases (
    case_id           text        PRIMARY KEY,
    customer_id       text        NOT NULL,
    channel           text        NOT NULL CHECK (channel IN ('phone', 'email', 'chat', 'in_person', 'social', 'other')),
    category          text        NOT NULL,
    severity          smallint    NOT NULL CHECK (severity BETWEEN 1 AND 5),
    baseline          smallint    CHECK (baseline BETWEEN 0 AND 10),
    owner_id          text        NOT NULL,
    opened_at         timestamptz NOT NULL,
    -- Business day of the complaint in the ledger's time zone.
    opened_day        date        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('open', 'closed', 'defected')),
    outcome           text        NOT NULL CHECK (outcome IN ('open', 'paradox', 'restored', 'unrecovered', 'unmeasured', 'defected')),
    -- MAMA steps reached, as names: listened, acknowledged, met, followed_up.
    steps             text[]      NOT NULL,
    first_apology_at  timestamptz,
    resolved_at       timestamptz,
    satisfaction      smallint    CHECK (satisfaction BETWEEN 0 AND 10),
    would_recommend   smallint    CHECK (would_recommend BETWEEN 0 AND 10),
    -- Net of reversals, in the ledger's minor units.
    compensation_net  bigint      NOT NULL CHECK (compensation_net >= 0),
    last_position     bigint      NOT NULL
);

CREATE INDEX cases_by_day ON cases (opened_day);

-- Every compensation, with whom and which day it was charged to, so that a
-- reversal can credit exactly that allowance.
CREATE TABLE case_compensations (
    event_id    uuid    PRIMARY KEY,
    case_id     text    NOT NULL REFERENCES cases (case_id),
    amount      bigint  NOT NULL CHECK (amount > 0),
    charged_to  text    NOT NULL,
    day         date    NOT NULL,
    reversed    boolean NOT NULL DEFAULT false
);

CREATE INDEX case_compensations_by_case ON case_compensations (case_id);

-- One row per person and business day that has seen a charge or an allowance
-- change. spent is net of reversals.
CREATE TABLE budget_days (
    agent_id       text    NOT NULL,
    day            date    NOT NULL,
    allowance      bigint  NOT NULL CHECK (allowance >= 0),
    spent          bigint  NOT NULL CHECK (spent >= 0),
    compensations  integer NOT NULL CHECK (compensations >= 0),
    reversals      integer NOT NULL CHECK (reversals >= 0),
    PRIMARY KEY (agent_id, day)
);

CREATE INDEX budget_days_by_day ON budget_days (day);

-- Allowance settings: a person's daily limit and role from a business day on.
CREATE TABLE allowances (
    agent_id     text   NOT NULL,
    since_day    date   NOT NULL,
    daily_limit  bigint NOT NULL CHECK (daily_limit >= 0),
    role         text   NOT NULL CHECK (role IN ('agent', 'supervisor')),
    PRIMARY KEY (agent_id, since_day)
);
