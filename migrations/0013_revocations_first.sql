-- Due revocations are claimed before any other due job (store::jobs::CLAIM_REVOCATIONS): access
-- that should have ended must not wait behind the notices of the revocations before it. The
-- condition must stay written exactly as that query writes it.
CREATE INDEX jobs_revocations_by_due ON jobs (due_at) WHERE json_extract(payload, '$.job') = 'revoke';
