-- The scheduler's claims read only jobs that nobody holds, through partial indexes: a claim costs
-- the same however many jobs are running (store::jobs). Claims whose lease ran out are found
-- through their own index and released first.

-- Due revocations are claimed before any other due job (store::jobs::CLAIM_REVOCATIONS): access
-- that should have ended must not wait behind the notices of the revocations before it. The
-- condition must stay written exactly as that query writes it.
CREATE INDEX jobs_revocations_by_due ON jobs (due_at)
    WHERE json_extract(payload, '$.job') = 'revoke' AND locked_until IS NULL;
-- Claims by when their lease runs out (store::jobs::RELEASE_EXPIRED).
CREATE INDEX jobs_by_lease ON jobs (locked_until) WHERE locked_until IS NOT NULL;
