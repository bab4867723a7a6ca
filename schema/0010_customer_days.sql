-- Compensation per customer and business day, net of reversals: what the
-- per-customer daily cap (`--customer-daily-cap`, DESIGN.md §2) is checked
-- against. Written in the same transaction as the events, like budget_days.
CREATE TABLE customer_days (
    customer_id  text    NOT NULL,
    day          date    NOT NULL,
    spent        bigint  NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (customer_id, day)
);
CREATE INDEX customer_days_by_day ON customer_days (day);
