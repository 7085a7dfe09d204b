-- Whether a decision's outcome is vouched for: 1 from the host's backend (`POST /v1/outcomes`)
-- or from the page of an identified visitor, 0 from an anonymous page (anyone with the public
-- site key could have sent it: recorded, but it moves neither the arms nor the uplift, and a
-- vouched outcome may still take its place). NULL without an outcome, or for outcomes recorded
-- before this column (all were counted then, so they read as vouched).
ALTER TABLE decisions ADD COLUMN outcome_verified BIGINT;
