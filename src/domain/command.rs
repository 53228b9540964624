//! The words people type after `/jit` (Slack) or `@jitbot jit` (Teams), parsed into commands.

use super::duration::AccessDuration;
use super::refusal::Refusal;
use super::schedule::StartSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Groups,
    Status,
    /// `request` with nothing after it: the person gets a form to fill in instead.
    Form,
    Request(RequestCommand),
    /// Emergency access to a group that allows it: granted at once, reviewed afterwards.
    BreakGlass {
        group: String,
        justification: String,
    },
    /// Something done to an existing request.
    Act {
        id: i64,
        action: RequestAction,
    },
}

/// What a person does to a request that exists: from a command or a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// The requester withdraws a pending or scheduled request.
    Cancel,
    /// The requester ends their access now ("I'm done").
    Release,
    /// An owner ends someone's access now, saying why.
    Revoke { reason: String },
    /// The requester asks for more time (`None`: the group's default).
    Extend { duration: Option<AccessDuration> },
    /// An owner has reviewed a break-glass use.
    Acknowledge,
}

impl RequestAction {
    /// The verb people type, also what refusals call the action.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Release => "done",
            Self::Revoke { .. } => "revoke",
            Self::Extend { .. } => "extend",
            Self::Acknowledge => "acknowledge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCommand {
    pub group: String,
    /// `None` means the group's default duration.
    pub duration: Option<AccessDuration>,
    pub justification: String,
    /// `for <person>`: who the access is for, as typed (a mention or an email address).
    pub on_behalf_of: Option<String>,
    /// `from <when>`: a scheduled start.
    pub start: Option<StartSpec>,
}

/// Longer than any group name an operator would choose.
const MAX_GROUP_CHARS: usize = 100;

/// The longest justification we keep; longer text is a paste accident, not a reason.
pub const MAX_JUSTIFICATION_CHARS: usize = 1000;

impl Command {
    pub fn parse(text: &str) -> Result<Command, Refusal> {
        let text = text.trim();
        let (verb, rest) = split_word(text);
        match verb.to_ascii_lowercase().as_str() {
            "" | "help" => Ok(Command::Help),
            "groups" | "list" => Ok(Command::Groups),
            "status" => Ok(Command::Status),
            "request" if rest.is_empty() => Ok(Command::Form),
            "request" => parse_request(rest).map(Command::Request),
            "breakglass" | "break-glass" => parse_break_glass(rest),
            "cancel" => act(verb, rest, |_| Ok(RequestAction::Cancel)),
            "done" | "release" => act(verb, rest, |_| Ok(RequestAction::Release)),
            "ack" | "acknowledge" => act(verb, rest, |_| Ok(RequestAction::Acknowledge)),
            "extend" => act(verb, rest, |rest| {
                let duration = match rest.trim() {
                    "" => None,
                    text => Some(AccessDuration::parse(text)?),
                };
                Ok(RequestAction::Extend { duration })
            }),
            "revoke" => parse_revoke(rest),
            _ => Err(Refusal::UnknownCommand(verb.chars().take(40).collect())),
        }
    }
}

/// `<verb> <number> …`: the request and whatever the action takes from the rest.
fn act(
    verb: &str,
    args: &str,
    action: impl FnOnce(&str) -> Result<RequestAction, Refusal>,
) -> Result<Command, Refusal> {
    let (id, rest) = split_word(args);
    let id = request_id(id).ok_or_else(|| Refusal::MissingRequestId {
        command: format!("/jit {}", verb.to_ascii_lowercase()),
    })?;
    Ok(Command::Act {
        id,
        action: action(rest)?,
    })
}

/// `42` or `#42`.
pub fn request_id(word: &str) -> Option<i64> {
    word.strip_prefix('#')
        .unwrap_or(word)
        .parse()
        .ok()
        .filter(|id| *id > 0)
}

fn parse_revoke(args: &str) -> Result<Command, Refusal> {
    let command = act("revoke", args, |reason| {
        Ok(RequestAction::Revoke {
            reason: limited(reason),
        })
    })?;
    match command {
        Command::Act {
            id,
            action: RequestAction::Revoke { reason },
        } if reason.is_empty() => Err(Refusal::MissingRevokeReason { id }),
        command => Ok(command),
    }
}

fn parse_break_glass(args: &str) -> Result<Command, Refusal> {
    let (group, rest) = split_word(args);
    if group.is_empty() {
        return Err(Refusal::MissingGroup);
    }
    let group = group.to_ascii_lowercase();
    let justification = limited(rest);
    if justification.is_empty() {
        return Err(Refusal::MissingJustification { group });
    }
    Ok(Command::BreakGlass {
        group,
        justification,
    })
}

/// `request <group> [duration] [for <person>] [from <when>] <justification>`.
fn parse_request(args: &str) -> Result<RequestCommand, Refusal> {
    let (group, rest) = split_word(args);
    if group.is_empty() {
        return Err(Refusal::MissingGroup);
    }
    let group = group.to_ascii_lowercase();
    let (maybe_duration, after_duration) = split_word(rest);
    // A word that starts with a digit is meant as a duration: a typo there must not silently
    // become the justification and fall back to the default duration.
    let (duration, mut rest) = if maybe_duration.starts_with(|c: char| c.is_ascii_digit()) {
        (Some(AccessDuration::parse(maybe_duration)?), after_duration)
    } else {
        (None, rest)
    };
    let (mut on_behalf_of, mut start) = (None, None);
    loop {
        let (word, after) = split_word(rest);
        let (next, after_next) = split_word(after);
        match word.to_ascii_lowercase().as_str() {
            "for" if on_behalf_of.is_none() && looks_like_person(next) => {
                on_behalf_of = Some(next.to_string());
                rest = after_next;
            }
            "from" if start.is_none() => {
                let words: Vec<&str> = after.split_whitespace().take(2).collect();
                let (spec, taken) = StartSpec::parse_words(&words)?;
                start = Some(spec);
                rest = after;
                for _ in 0..taken {
                    rest = split_word(rest).1;
                }
            }
            _ => break,
        }
    }
    let justification = justification_of(rest, &group)?;
    Ok(RequestCommand {
        group,
        duration,
        justification,
        on_behalf_of,
        start,
    })
}

/// A mention (`<@U…>`, `@name`, Teams' `<at>…</at>`) or an email address: what `for` takes;
/// any other word after `for` is part of the justification ("for the migration").
fn looks_like_person(word: &str) -> bool {
    word.starts_with("<@") || word.starts_with('@') || word.starts_with("<at>") || {
        let (user, domain) = word.split_once('@').unwrap_or_default();
        !user.is_empty() && domain.contains('.')
    }
}

/// Typed text kept as a reason: trimmed and capped.
fn limited(text: &str) -> String {
    text.trim().chars().take(MAX_JUSTIFICATION_CHARS).collect()
}

impl RequestCommand {
    /// A request from a form's fields, held to the same rules as the typed one: a group, a
    /// duration only when one is given, and a justification, trimmed and capped.
    pub fn from_form(group: &str, duration: &str, justification: &str) -> Result<Self, Refusal> {
        let group = group.trim().to_ascii_lowercase();
        if group.is_empty() {
            return Err(Refusal::MissingGroup);
        }
        // A form's fields can hold anything: a name that long is no group, and is not repeated
        // back in full.
        if group.chars().count() > MAX_GROUP_CHARS {
            return Err(Refusal::UnknownGroup {
                name: group.chars().take(40).collect::<String>() + "…",
                suggestions: Vec::new(),
            });
        }
        let duration = match duration.trim() {
            "" => None,
            text => Some(AccessDuration::parse(text)?),
        };
        let justification = justification_of(justification, &group)?;
        Ok(RequestCommand {
            group,
            duration,
            justification,
            on_behalf_of: None,
            start: None,
        })
    }
}

fn justification_of(text: &str, group: &str) -> Result<String, Refusal> {
    let justification: String = text.trim().chars().take(MAX_JUSTIFICATION_CHARS).collect();
    if justification.is_empty() {
        return Err(Refusal::MissingJustification {
            group: group.to_string(),
        });
    }
    Ok(justification)
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> RequestCommand {
        match Command::parse(text).unwrap() {
            Command::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_full_request() {
        let r = request("request prod-db 2h fixing INC-4711");
        assert_eq!(r.group, "prod-db");
        assert_eq!(r.duration, Some(AccessDuration::parse("2h").unwrap()));
        assert_eq!(r.justification, "fixing INC-4711");
    }

    #[test]
    fn duration_is_optional() {
        let r = request("request Prod-DB fixing the thing");
        assert_eq!(r.group, "prod-db");
        assert_eq!(r.duration, None);
        assert_eq!(r.justification, "fixing the thing");
    }

    #[test]
    fn refuses_what_is_missing_or_wrong() {
        assert_eq!(Command::parse("request  "), Ok(Command::Form));
        assert!(matches!(
            Command::parse("request prod-db 2h"),
            Err(Refusal::MissingJustification { .. })
        ));
        assert!(matches!(
            Command::parse("request prod-db 2 weeks please"),
            Err(Refusal::BadDuration(_))
        ));
        assert!(matches!(
            Command::parse("frobnicate"),
            Err(Refusal::UnknownCommand(_))
        ));
    }

    #[test]
    fn reads_on_behalf_and_a_scheduled_start() {
        let r = request("request prod-db 2h for <@U0BOB> from tomorrow 09:00 fixing INC-4711");
        assert_eq!(r.on_behalf_of.as_deref(), Some("<@U0BOB>"));
        assert_eq!(r.start.unwrap().to_string(), "tomorrow 09:00");
        assert_eq!(r.justification, "fixing INC-4711");
        let r = request("request prod-db from 2026-12-01 14:30 for bob@example.com why");
        assert_eq!(r.on_behalf_of.as_deref(), Some("bob@example.com"));
        assert_eq!(r.start.unwrap().to_string(), "2026-12-01 14:30");
        // `for` before a word that is not a person belongs to the justification.
        let r = request("request prod-db for the migration");
        assert_eq!(r.on_behalf_of, None);
        assert_eq!(r.justification, "for the migration");
        assert!(matches!(
            Command::parse("request prod-db from someday fixing"),
            Err(Refusal::BadStart(_))
        ));
    }

    #[test]
    fn reads_actions_on_requests() {
        let act = |text: &str| Command::parse(text);
        assert_eq!(
            act("cancel #42"),
            Ok(Command::Act {
                id: 42,
                action: RequestAction::Cancel
            })
        );
        assert_eq!(
            act("done 7"),
            Ok(Command::Act {
                id: 7,
                action: RequestAction::Release
            })
        );
        assert_eq!(
            act("extend 7 30m"),
            Ok(Command::Act {
                id: 7,
                action: RequestAction::Extend {
                    duration: Some(AccessDuration::parse("30m").unwrap())
                }
            })
        );
        assert_eq!(
            act("revoke 7 left the team"),
            Ok(Command::Act {
                id: 7,
                action: RequestAction::Revoke {
                    reason: "left the team".into()
                }
            })
        );
        assert_eq!(act("revoke 7"), Err(Refusal::MissingRevokeReason { id: 7 }));
        assert!(matches!(
            act("cancel"),
            Err(Refusal::MissingRequestId { .. })
        ));
        assert!(matches!(
            act("extend 7 forever"),
            Err(Refusal::BadDuration(_))
        ));
        assert_eq!(
            act("breakglass Prod-DB outage INC-1"),
            Ok(Command::BreakGlass {
                group: "prod-db".into(),
                justification: "outage INC-1".into()
            })
        );
    }

    #[test]
    fn a_form_is_held_to_the_same_rules() {
        let r = RequestCommand::from_form(" Prod-DB ", " 2h ", "  fixing it ").unwrap();
        assert_eq!(r, request("request prod-db 2h fixing it"));
        let r = RequestCommand::from_form("prod-db", "", "fixing it").unwrap();
        assert_eq!(r.duration, None);
        assert_eq!(
            RequestCommand::from_form("", "2h", "x"),
            Err(Refusal::MissingGroup)
        );
        assert!(matches!(
            RequestCommand::from_form("prod-db", "2 weeks", "x"),
            Err(Refusal::BadDuration(_))
        ));
        assert!(matches!(
            RequestCommand::from_form("prod-db", "2h", " \n "),
            Err(Refusal::MissingJustification { .. })
        ));
        assert!(matches!(
            RequestCommand::from_form(&"g".repeat(500), "", "x"),
            Err(Refusal::UnknownGroup { name, .. }) if name.chars().count() == 41
        ));
        let long = "x".repeat(MAX_JUSTIFICATION_CHARS + 5);
        let r = RequestCommand::from_form("prod-db", "", &long).unwrap();
        assert_eq!(r.justification.chars().count(), MAX_JUSTIFICATION_CHARS);
    }

    #[test]
    fn knows_the_other_commands() {
        assert_eq!(Command::parse(""), Ok(Command::Help));
        assert_eq!(Command::parse("  HELP "), Ok(Command::Help));
        assert_eq!(Command::parse("groups"), Ok(Command::Groups));
        assert_eq!(Command::parse("status"), Ok(Command::Status));
    }
}
