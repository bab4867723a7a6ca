-- CASES (docs/PROTOCOL.md): a customer's or an owner's cases, newest first,
-- paged by the last case seen. Newest first is by the recorded business day
-- of the complaint, then its occurred_at, then case_id.
CREATE INDEX cases_by_customer ON cases (customer_id, opened_day DESC, opened_at DESC, case_id DESC);
CREATE INDEX cases_by_owner ON cases (owner_id, opened_day DESC, opened_at DESC, case_id DESC);
CREATE INDEX cases_newest_first ON cases (opened_day DESC, opened_at DESC, case_id DESC);
