//! What a person did wrong, said so that they know how to fix it.

use super::duration::{AccessDuration, DurationError};
use super::identity::Account;
use super::request::{RequestStatus, Verdict};

/// A request or decision that jitbot turns down. Nothing has changed when one is returned;
/// the adapters show it privately to the person who caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("I don't know the command `{0}`. Try `/jit help`.")]
    UnknownCommand(String),
    #[error(
        "Say which group you need: `/jit request <group> [duration] <justification>`, e.g. `/jit request prod-db 2h fixing INC-4711`. `/jit groups` lists the groups."
    )]
    MissingGroup,
    #[error("There is no group called `{name}`.{}", suggest(suggestions))]
    UnknownGroup {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("{0}")]
    BadDuration(#[from] DurationError),
    #[error("The person you ask for already has request #{id} for `{group}`, which is {status}.")]
    TheyHaveOpen {
        id: i64,
        group: String,
        status: RequestStatus,
    },
    #[error(
        "`{group}` can be requested for at most {max}; you asked for {asked}. Ask again with {max} or less."
    )]
    TooLong {
        group: String,
        asked: AccessDuration,
        max: AccessDuration,
    },
    #[error(
        "Say why you need `{group}`: `/jit request {group} [duration] <justification>`, e.g. `fixing INC-4711`."
    )]
    MissingJustification { group: String },
    #[error(
        "You already have request #{id} for `{group}`, which is {status}. `/jit status` shows it."
    )]
    AlreadyOpen {
        id: i64,
        group: String,
        status: RequestStatus,
    },
    #[error("{}", too_few_approvers(group, *required, *available))]
    TooFewApprovers {
        group: String,
        required: u32,
        available: u32,
    },
    #[error(
        "Microsoft Entra ID has no account for {who}, so jitbot cannot grant you `{group}`. Ask your administrator."
    )]
    NotInDirectory { who: String, group: String },
    #[error("Your Microsoft Entra ID account is disabled, so you cannot request `{group}`.")]
    AccountDisabled { group: String },
    #[error(
        "Only members of the groups eligible for `{group}` may request it. Ask {owners} to make you eligible."
    )]
    NotEligible { group: String, owners: String },
    #[error(
        "I could not check the owners of `{group}` with Microsoft Entra ID just now, so nothing was decided. Please try again in a moment."
    )]
    OwnersUnavailable { group: String },
    #[error("There is no request #{0}.")]
    NoSuchRequest(i64),
    #[error("You are not an owner of {group}, so you cannot decide on its requests.")]
    NotOwner { group: String },
    #[error(
        "Request #{id} is for `{group}`, which is no longer in jitbot's configuration, so it can be neither approved nor granted."
    )]
    GroupRemoved { id: i64, group: String },
    #[error(
        "Request #{id} was made when `{group}` granted something else than it does now, so it can be neither approved nor granted; ask again."
    )]
    GroupRetargeted { id: i64, group: String },
    #[error("You cannot approve your own request for {group}; another owner has to.")]
    OwnRequest { group: String },
    #[error("Request #{id} was already {}{}{}.", verdict.past_tense(), by_whom(by), now_is(*verdict, *status))]
    AlreadyDecided {
        id: i64,
        verdict: Verdict,
        /// The accounts whose decisions settled it (empty when unknown).
        by: Vec<Account>,
        /// Where the request stands now, which may be well past the decision.
        status: RequestStatus,
    },
    #[error(
        "You already approved request #{id}; it needs {missing} more approval(s) from other owners."
    )]
    AlreadyApproved { id: i64, missing: u32 },
    #[error("I could not find out who you are ({0}). Please try again in a moment.")]
    UnknownIdentity(String),
    #[error(
        "Request #{id} is still being checked: owners can decide once jitbot has confirmed who asked. Please try again in a moment."
    )]
    RequesterUnconfirmed { id: i64 },
    #[error(
        "Nobody can be asked to approve `{group}`: it has no approval channel and none of its owners can be reached by direct message. Ask an administrator to set an approval channel."
    )]
    NobodyToAsk { group: String },
    #[error("Requests from another workspace or organisation cannot be made or decided here.")]
    ForeignWorkspace,
    #[error(
        "jitbot could not confirm your email address, so it cannot tell you apart from the owners on another platform. Confirm your email address (in Slack: your profile) and ask again."
    )]
    UnverifiedIdentity,
    #[error("Only the requester and the owners of its group can see request #{0}.")]
    NotYours(i64),
    #[error(
        "`from {0}` is not a start I understand: say `from tomorrow 09:00`, `from 2026-12-01 14:30` or `from 14:30` (your own time zone)."
    )]
    BadStart(String),
    #[error("`from {0}` has already passed. Pick a time ahead.")]
    StartInPast(String),
    #[error("`from {0}` is too far ahead: a start can be scheduled at most 30 days ahead.")]
    StartTooFar(String),
    #[error(
        "Say which request: `{command} <number>`, e.g. `{command} 42`. `/jit status` lists yours."
    )]
    MissingRequestId { command: String },
    #[error(
        "Say why you end this access: `/jit revoke {id} <reason>`. The person is told the reason."
    )]
    MissingRevokeReason { id: i64 },
    #[error("Only the person who asked for request #{id} can {action} it.")]
    NotRequester { id: i64, action: String },
    #[error("Request #{id} is {status}, so it cannot be {action}.")]
    WrongState {
        id: i64,
        status: RequestStatus,
        action: String,
    },
    #[error(
        "Request #{id} was waiting for longer than `{group}` allows ({timeout}), so it has expired and can no longer be decided. Ask again if it is still needed."
    )]
    TooOld {
        id: i64,
        group: String,
        timeout: AccessDuration,
    },
    #[error(
        "`{group}` can be held for at most {max_total} in all, counted from the first grant; request #{id} can be extended by {left} at most."
    )]
    BeyondMaxTotal {
        id: i64,
        group: String,
        max_total: AccessDuration,
        left: String,
    },
    #[error("Request #{id} already has extension #{extension} waiting for the owners.")]
    ExtensionWaiting { id: i64, extension: i64 },
    #[error("`{group}` has no break-glass access. Use `/jit request {group} …` instead.")]
    NoBreakGlass { group: String },
    #[error("Request #{0} is not a break-glass use, so there is nothing to acknowledge.")]
    NotBreakGlass(i64),
    #[error(
        "You may ask on someone else's behalf only as their manager in Microsoft Entra ID or as a delegate of `{group}`."
    )]
    NotTheirManager { group: String },
    #[error(
        "I could not tell who `{0}` is. Mention the person (`for @name`) or give their email address."
    )]
    UnknownPerson(String),
    #[error(
        "Break-glass access #{0} cannot be extended: it is for emergencies only. Ask with `/jit request` if you need longer."
    )]
    BreakGlassNotExtended(i64),
    #[error(
        "Your break-glass use #{id} of `{group}` has not been reviewed yet: another one waits until an owner has acknowledged it. Ask with `/jit request` meanwhile."
    )]
    BreakGlassUnreviewed { id: i64, group: String },
    #[error(
        "The rule of `{group}` that approved this request ahead of its start no longer applies to you, so it was not granted. Ask again to have the owners decide."
    )]
    RuleNoLongerApplies { group: String },
    #[error(
        "{0} has not talked to jitbot yet, so jitbot cannot check who they are. Ask them to send jitbot `help` once, then ask again."
    )]
    PersonNotSeen(String),
    #[error("Break-glass use #{0} has already been reviewed.")]
    AlreadyAcknowledged(i64),
    #[error("Ask for yourself without `for`: the request is already yours.")]
    ForYourself,
    #[error(
        "You asked for this request on someone else's behalf, so you cannot approve it; another owner of {group} has to."
    )]
    AskedByYou { group: String },
}

fn suggest(suggestions: &[String]) -> String {
    match suggestions {
        [] => " `/jit groups` lists the groups you can request.".to_string(),
        names => format!(
            " Did you mean {}?",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

fn too_few_approvers(group: &str, required: u32, available: u32) -> String {
    if available == 0 {
        format!(
            "You are the only owner of `{group}`, and nobody may approve their own request. Ask an administrator to add another owner."
        )
    } else {
        format!(
            "`{group}` needs {required} approvals, but only {available} owner(s) other than you can give one. Ask an administrator to add an owner or lower approvals_required."
        )
    }
}

fn now_is(verdict: Verdict, status: RequestStatus) -> String {
    match (verdict, status) {
        (Verdict::Approve, RequestStatus::Approved) | (Verdict::Deny, RequestStatus::Denied) => {
            String::new()
        }
        (_, status) => format!("; it is {status} now"),
    }
}

fn by_whom(by: &[Account]) -> String {
    if by.is_empty() {
        return String::new();
    }
    let who: Vec<String> = by.iter().map(Account::key).collect();
    format!(" by {}", who.join(", "))
}
