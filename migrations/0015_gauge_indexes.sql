-- `jobs_by_due` served only a metrics gauge, yet every job inserted or deleted wrote to it: the
-- oldest waiting job is now read from the index of unclaimed jobs the scheduler reads anyway.
DROP INDEX jobs_by_due;
-- `requests_by_status` was written at every move of every request, for a gauge (active grants)
-- and the sweep (who holds a target). Both ask only about requests holding access, which this
-- one keeps: a request enters it when approved and leaves it when its access has ended.
DROP INDEX requests_by_status;
CREATE INDEX requests_holding ON requests (status) WHERE status IN ('approved', 'active', 'revoking');
