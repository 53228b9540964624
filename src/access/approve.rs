//! Approve: what follows an approval, whoever gave it — the owners, or a rule of the group
//! (`auto_extend`, `approvals_required = 0`, `auto_approve_for`, break-glass).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use super::effects::{Tx, audit_by_jitbot, refresh, tell_requester};
use crate::domain::{
    AccessRequest, AuditAction, GroupPolicy, Job, Notice, Principal, RequestKind, RequestStatus,
};
use crate::store::{self, requests};

/// Queues the grant: at the scheduled start when that is ahead (the requester hears when), else
/// now.
pub fn queue_grant(tx: &mut Tx, request: &AccessRequest, now: DateTime<Utc>) {
    match request.starts_at.filter(|start| *start > now) {
        Some(starts_at) => {
            store::jobs::queue_job(tx, request.id, &Job::Grant, starts_at);
            tell_requester(tx, request.id, Notice::Scheduled { starts_at }, now);
        }
        None => store::jobs::queue_job(tx, request.id, &Job::Grant, now),
    }
}

/// The rule of the group that approves this request without an owner, if one does. Membership
/// of `auto_approve_for` groups is asked of Microsoft Graph; `Err` when it cannot be.
pub async fn rule_for(
    core: &Core,
    group: &GroupPolicy,
    request: &AccessRequest,
    requester: &Principal,
) -> anyhow::Result<Option<String>> {
    let rules = &group.lifecycle;
    let rule = match request.kind {
        RequestKind::BreakGlass => Some("break-glass".to_string()),
        RequestKind::Extension { .. } if rules.auto_extend => Some("auto_extend".to_string()),
        _ if group.approvals_required == 0 => {
            Some("self-service: approvals_required = 0".to_string())
        }
        _ => None,
    };
    if rule.is_some() || rules.auto_approve_for.is_empty() {
        return Ok(rule);
    }
    let Some(entra_id) = &requester.entra_id else {
        return Ok(None);
    };
    let matched = core
        .graph
        .member_groups(entra_id, &rules.auto_approve_for)
        .await?;
    Ok(matched
        .first()
        .map(|id| format!("auto_approve_for: a member of Entra group {id}")))
}

/// `pending → approved` by `rule`, in the caller's transaction: audited with the rule, the
/// requester told, the grant queued. False when the request had moved on.
pub fn by_rule(
    tx: &mut Tx,
    request: &AccessRequest,
    rule: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if !requests::mark_decided(tx, request.id, RequestStatus::Approved, now)? {
        return Ok(false);
    }
    let detail = json!({ "group": request.group, "rule": rule, "kind": request.kind.as_str() });
    audit_by_jitbot(tx, request.id, AuditAction::ApprovedByPolicy, detail, now)?;
    let notice = Notice::ApprovedByPolicy {
        rule: rule.to_string(),
    };
    tell_requester(tx, request.id, notice, now);
    queue_grant(tx, request, now);
    refresh(tx, request.id, now);
    Ok(true)
}
