-- Least privilege for an existing PostgreSQL (docs/OPERATIONS.md).
-- Run as the database owner after `recoveryd migrate` (which the owner runs).
-- The daemon's role may append to the log and read it, never change it.
-- (Each migration's comment says which tables it adds.)
CREATE ROLE recoveryd LOGIN;
GRANT CONNECT ON DATABASE ledger TO recoveryd;
GRANT USAGE ON SCHEMA public TO recoveryd;
GRANT SELECT, INSERT ON events TO recoveryd;
GRANT SELECT, INSERT, UPDATE ON cases, follow_ups_due, case_compensations, budget_days, allowances, customer_days, setting_changes, ledger_checkpoint TO recoveryd;
-- The projection tables are derived from the log: a daemon whose fold is newer
-- than the one that wrote them empties and rebuilds them at start.
GRANT TRUNCATE ON cases, follow_ups_due, case_compensations, budget_days, allowances, customer_days, setting_changes TO recoveryd;
-- A case's row leaves follow_ups_due once it is followed up or closed.
GRANT DELETE ON follow_ups_due TO recoveryd;
-- Read once, and emptied, when a ledger of an earlier version is upgraded.
GRANT SELECT, DELETE ON ledger_settings TO recoveryd;
GRANT SELECT, INSERT ON signed_heads TO recoveryd;
GRANT SELECT ON schema_migrations TO recoveryd;
-- Read-only access for finance and BI tools.
CREATE ROLE ledger_reader LOGIN;
GRANT CONNECT ON DATABASE ledger TO ledger_reader;
GRANT USAGE ON SCHEMA public TO ledger_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ledger_reader;
