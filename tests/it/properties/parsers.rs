//! The command and duration parsers: anything typed gets an answer, and what they produce reads
//! back as what was meant.

use jitbot::domain::AccessDuration;
use jitbot::domain::command::{Command, RequestAction};
use proptest::prelude::*;

use super::{runner, typed_text};

#[test]
fn any_typed_text_parses_to_a_command_or_a_refusal() {
    runner(256)
        .run(&typed_text(), |text| {
            // Either way the person reads something: a refusal renders to a sentence.
            if let Err(refusal) = Command::parse(&text) {
                prop_assert!(!refusal.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_string_is_a_duration_or_a_clear_error() {
    runner(256)
        .run(&prop_oneof![any::<String>(), "[0-9dhm ]{0,12}"], |text| {
            match AccessDuration::parse(&text) {
                Ok(duration) => {
                    prop_assert!(duration.minutes() > 0);
                    prop_assert_eq!(AccessDuration::parse(&duration.to_string()), Ok(duration));
                }
                Err(error) => prop_assert!(error.to_string().contains("not a duration")),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_duration_prints_as_text_that_parses_back_to_it() {
    let ten_years = 10 * 365 * 24 * 60;
    runner(256)
        .run(&(1u32..=ten_years), |minutes| {
            let duration = AccessDuration::from_minutes(minutes).unwrap();
            prop_assert_eq!(AccessDuration::parse(&duration.to_string()), Ok(duration));
            let (h, m) = (minutes / 60, minutes % 60);
            prop_assert_eq!(AccessDuration::parse(&format!("{h}h{m}m")), Ok(duration));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_typed_request_reads_back_as_its_group_duration_and_justification() {
    let request = (
        "[a-z][a-z0-9-]{0,20}",
        1u32..=100_000,
        "[a-zA-Z][a-zA-Z0-9 .,:#-]{0,60}",
    );
    runner(256)
        .run(&request, |(group, minutes, justification)| {
            let duration = AccessDuration::from_minutes(minutes).unwrap();
            // `for` and `from` open clauses of their own; they are tested elsewhere.
            prop_assume!(!justification.to_ascii_lowercase().starts_with("for "));
            prop_assume!(!justification.to_ascii_lowercase().starts_with("from "));
            let text = format!("request {group} {duration} {justification}");
            let Ok(Command::Request(parsed)) = Command::parse(&text) else {
                return Err(TestCaseError::fail(format!(
                    "{text:?} did not parse as a request"
                )));
            };
            prop_assert_eq!(parsed.group, group);
            prop_assert_eq!(parsed.duration, Some(duration));
            prop_assert_eq!(parsed.justification, justification.trim());
            Ok(())
        })
        .unwrap();
}

#[test]
fn actions_on_a_request_read_back_as_its_number() {
    let action = (
        1i64..i64::MAX,
        prop_oneof!["cancel", "done", "ack"],
        any::<bool>(),
    );
    runner(256)
        .run(&action, |(id, verb, hash)| {
            let number = if hash {
                format!("#{id}")
            } else {
                id.to_string()
            };
            let parsed = Command::parse(&format!("{verb} {number}"));
            let Ok(Command::Act {
                id: parsed_id,
                action,
            }) = parsed
            else {
                return Err(TestCaseError::fail(format!(
                    "{verb} {number} did not parse"
                )));
            };
            prop_assert_eq!(parsed_id, id);
            let expected = match verb.as_str() {
                "cancel" => RequestAction::Cancel,
                "done" => RequestAction::Release,
                _ => RequestAction::Acknowledge,
            };
            prop_assert_eq!(action, expected);
            Ok(())
        })
        .unwrap();
}
