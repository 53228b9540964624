//! The words people type after `/jit` (Slack) or `@jitbot jit` (Teams), parsed into commands.

use super::duration::AccessDuration;
use super::refusal::Refusal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Groups,
    Status,
    /// `request` with nothing after it: the person gets a form to fill in instead.
    Form,
    Request(RequestCommand),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCommand {
    pub group: String,
    /// `None` means the group's default duration.
    pub duration: Option<AccessDuration>,
    pub justification: String,
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
            _ => Err(Refusal::UnknownCommand(verb.chars().take(40).collect())),
        }
    }
}

fn parse_request(args: &str) -> Result<RequestCommand, Refusal> {
    let (group, rest) = split_word(args);
    if group.is_empty() {
        return Err(Refusal::MissingGroup);
    }
    let group = group.to_ascii_lowercase();
    let (maybe_duration, after_duration) = split_word(rest);
    // A word that starts with a digit is meant as a duration: a typo there must not silently
    // become the justification and fall back to the default duration.
    let (duration, justification) = if maybe_duration.starts_with(|c: char| c.is_ascii_digit()) {
        (Some(AccessDuration::parse(maybe_duration)?), after_duration)
    } else {
        (None, rest)
    };
    let justification = justification_of(justification, &group)?;
    Ok(RequestCommand {
        group,
        duration,
        justification,
    })
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
