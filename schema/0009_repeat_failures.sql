-- First versus repeat failures (DESIGN.md §2, "Recovery practice"): how many
-- other cases of the same customer had complaints recorded within
-- repeat_window_days before this one. Rows written before this migration have
-- 0 until `recoveryd rebuild --write`.
ALTER TABLE cases ADD COLUMN prior_cases integer NOT NULL DEFAULT 0 CHECK (prior_cases >= 0);
-- The window decides stored rows, so it is fixed at the ledger's first start.
ALTER TABLE ledger_settings ADD COLUMN repeat_window_days integer NOT NULL DEFAULT 365 CHECK (repeat_window_days BETWEEN 0 AND 36500);
