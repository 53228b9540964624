#!/usr/bin/env bash
# Fault runs (not part of `cargo test`; they need a few quiet minutes): jitbot is killed with
# SIGKILL at random moments during a load run with approvals and one-minute grants, and a second
# jitbot sees its provider down for a while. The run ends non-zero, naming each problem, when a
# request was not granted exactly once, an expired grant was not revoked, something is stuck or
# doubled, the audit trail does not verify, or a due revocation came more than 10 s after the
# provider returned. Bounded: about load + 100 s (kills) beside outage + 35 s (provider).
#
#   scripts/fault-runs.sh                       # defaults: 20 s of load, 4 kills, 60 s outage
#   scripts/fault-runs.sh --outage-secs 20      # any flag of `jitbot-bench fault --help`
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin jitbot-bench
exec target/release/jitbot-bench fault "$@"
