-- `status` for owners: the pending and active requests of the groups a person owns, found by
-- group and status (store::requests::in_groups).
CREATE INDEX requests_by_group_status ON requests (group_name, status);
