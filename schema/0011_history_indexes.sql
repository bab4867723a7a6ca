-- Reads of the past (`at=`, DESIGN.md §5) and of a range of days (`SPENDING`,
-- recoveryctl report) without scanning the whole log or every compensation:
-- a person's allowance events, and the compensations charged on a day.
CREATE INDEX events_allowances ON events (agent_id, position) WHERE type = 'allowance';
CREATE INDEX case_compensations_by_day ON case_compensations (day, charged_to);
