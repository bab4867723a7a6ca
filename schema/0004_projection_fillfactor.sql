-- Projection rows are updated in place by nearly every event of their case or
-- person. Leaving room on each page lets PostgreSQL keep the new row version
-- on the same page without touching the indexes (a HOT update), since no
-- indexed column changes. Applies to pages written from now on.
ALTER TABLE cases SET (fillfactor = 70);
ALTER TABLE budget_days SET (fillfactor = 70);
ALTER TABLE case_compensations SET (fillfactor = 80);
