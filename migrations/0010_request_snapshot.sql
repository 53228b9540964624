-- What a request grants, as the policy said when it was made: the provider (with a webhook's
-- address and the variable holding its secret) and the target. A reload that changes or removes
-- the group then neither strands an active grant nor grants something other than was asked.
-- Rows made before this migration are filled from the policy at start (NULL until then, and for
-- groups no longer in the policy).
ALTER TABLE requests ADD COLUMN provider TEXT;
ALTER TABLE requests ADD COLUMN provider_target TEXT;
ALTER TABLE requests ADD COLUMN webhook_url TEXT;
ALTER TABLE requests ADD COLUMN webhook_secret_env TEXT;
