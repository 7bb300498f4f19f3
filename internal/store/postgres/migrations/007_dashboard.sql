-- The dashboard counts the cases that entered the departure and the
-- arrival stage per month: the periods of a stage by when they began,
-- with the case (covering the query).
CREATE INDEX case_stage_periods_stage_entered ON case_stage_periods (stage, entered_at, case_id);
