-- One index of open requests by status and group replaces two: `requests_by_group_status`
-- (every request, every status: what owners are shown) and `requests_holding` (approved,
-- active and revoking: the active-grants gauge and the sweep). Most moves of a request wrote to
-- both; a revocation rewrote three of their entries and deleted one. This one holds only open
-- requests (its condition is the open indexes' `closed = 0`, which a trigger keeps in step with
-- `status`), so a request leaves it when it closes and history never grows it: a move between
-- open statuses rewrites one entry, and an ended revocation deletes one (a request closed
-- through the trigger moves its entry, then deletes it).
DROP INDEX requests_by_group_status;
DROP INDEX requests_holding;
CREATE INDEX requests_live ON requests (status, group_name) WHERE closed = 0;
