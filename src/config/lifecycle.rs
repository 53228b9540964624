//! A group's lifecycle keys → `LifecycleRules`: warnings, extensions, timeouts, delegates,
//! break-glass and approval by policy, each checked with its key named.

use super::group::{Problems, RawGroup, channels};
use crate::domain::identity::Guid;
use crate::domain::{AccessDuration, BreakGlass, LifecycleRules, Owner};

pub(super) fn rules(
    raw: &RawGroup,
    max_duration: AccessDuration,
    problems: &mut Problems,
) -> LifecycleRules {
    let defaults = LifecycleRules::default();
    let warn_before = match raw.warn_before.as_deref().map(str::trim) {
        Some("off") => None,
        other => duration("warn_before", other, problems).or(defaults.warn_before),
    };
    let max_total = duration("max_total", raw.max_total.as_deref(), problems);
    if let Some(total) = max_total
        && total < max_duration
    {
        problems.add(
            "max_total",
            format!("{total} is shorter than max_duration ({max_duration})"),
        );
    }
    let pending_timeout = duration("pending_timeout", raw.pending_timeout.as_deref(), problems)
        .unwrap_or(defaults.pending_timeout);
    LifecycleRules {
        warn_before,
        max_total,
        auto_extend: raw.auto_extend,
        pending_timeout,
        delegates: delegates(&raw.delegates, problems),
        manager_can_self_approve: raw.manager_can_self_approve,
        break_glass: break_glass(raw, problems),
        auto_approve_for: group_ids("auto_approve_for", &raw.auto_approve_for, problems),
    }
}

fn duration(key: &str, value: Option<&str>, problems: &mut Problems) -> Option<AccessDuration> {
    let value = value?;
    AccessDuration::parse(value)
        .map_err(|e| problems.add(key, e.to_string()))
        .ok()
}

/// People who may ask on anyone's behalf, written like owners.
fn delegates(listed: &[String], problems: &mut Problems) -> Vec<Owner> {
    listed
        .iter()
        .filter_map(|entry| {
            Owner::parse(entry)
                .map_err(|message| problems.add("delegates", message))
                .ok()
        })
        .collect()
}

/// `break_glass = true` with its maximum and where its uses are announced; those keys without
/// it are a mistake, not silently ignored.
fn break_glass(raw: &RawGroup, problems: &mut Problems) -> Option<BreakGlass> {
    let security_channels = channels(
        ("security_channel", raw.security_channel.as_deref()),
        (
            "teams_security_channel",
            raw.teams_security_channel.as_deref(),
        ),
        problems,
    );
    let max = duration("break_glass_max", raw.break_glass_max.as_deref(), problems);
    if !raw.break_glass {
        if max.is_some() || !security_channels.is_empty() {
            problems.add(
                "break_glass",
                "break_glass_max and the security channels need break_glass = true".into(),
            );
        }
        return None;
    }
    Some(BreakGlass {
        max: max.unwrap_or(BreakGlass::default().max),
        security_channels,
    })
}

fn group_ids(key: &str, ids: &[String], problems: &mut Problems) -> Vec<Guid> {
    ids.iter()
        .filter_map(|id| {
            let parsed = Guid::parse(id);
            if parsed.is_none() {
                problems.add(key, format!("`{id}` is not an Entra group id (a GUID)"));
            }
            parsed
        })
        .collect()
}
