//! The Teams request form: an Adaptive Card that `jit request` alone answers with, and its
//! submission — by `Action.Execute` or its `Action.Submit` fallback — through the same `answer`
//! as the typed one-liner.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::activity::Activity;
use super::cards::{self, CONTENT_TYPE};
use super::identity;
use super::reply::Reply;
use super::template::expand;
use crate::access::answer::{Answer, answer};
use crate::access::requestable::requestable;
use crate::app::App;
use crate::domain::{
    Command, GroupPolicy, MAX_JUSTIFICATION_CHARS, Principal, RequestCommand, wording,
};
use crate::http::report_internal;

/// The form's `Action.Execute` verb, and the `jitVerb` of its `Action.Submit` fallback.
pub const FORM_VERB: &str = "jit.request";

pub static FORM_TEMPLATE: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../adaptive-cards/request-form.json"))
        .unwrap_or_else(|e| panic!("adaptive-cards/request-form.json is not JSON: {e}"))
});

/// What the person filled in, read from the card action's data: only strings count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormValues {
    pub group: String,
    pub duration: String,
    pub justification: String,
}

impl FormValues {
    pub fn from_data(data: Option<&Value>) -> FormValues {
        let field = |name: &str| {
            data.and_then(|d| d.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        FormValues {
            group: field("group"),
            duration: field("duration"),
            justification: field("justification"),
        }
    }
}

/// The form offering `groups`, filled in with `values`, with `error` above it when the last
/// submission was refused.
pub fn card(groups: &[GroupPolicy], values: &FormValues, error: Option<&str>) -> Value {
    let data = json!({
        "title": wording::FORM_TITLE,
        "error": error.unwrap_or_default(),
        "groupLabel": wording::FORM_GROUP,
        "durationLabel": wording::FORM_DURATION,
        "justificationLabel": wording::FORM_JUSTIFICATION,
        "durationPlaceholder": wording::form_duration_placeholder(groups),
        "maxJustification": MAX_JUSTIFICATION_CHARS,
        "submit": wording::FORM_SUBMIT,
        "groups": groups.iter().map(|g| json!({ "title": wording::form_choice(g), "name": g.name })).collect::<Vec<_>>(),
        "values": { "group": values.group, "duration": values.duration, "justification": values.justification },
    });
    expand(&FORM_TEMPLATE, &data).expect("the form template binds only its own data")
}

/// The answer to `jit request` alone: the form, or why there is none.
pub fn offered(groups: &[GroupPolicy]) -> Value {
    if groups.is_empty() {
        return cards::markdown_message(&wording::nothing_to_request("jit"));
    }
    cards::message(
        card(groups, &FormValues::default(), None),
        wording::FORM_TITLE,
    )
}

/// What became of a submission.
enum Filed {
    Yes(String),
    /// Refused, with the person the form is shown to again (when known).
    No(String, Option<Principal>),
}

async fn file(app: &App, activity: &Activity, values: &FormValues, now: DateTime<Utc>) -> Filed {
    let Some(user_id) = identity::user_id(activity) else {
        return Filed::No(
            "Teams did not say who you are in your organisation's directory.".into(),
            None,
        );
    };
    // Only the cache, as for the one-liner: the request's check verifies the person.
    let asker = match identity::cached(&app.teams, &user_id, now).await {
        Ok(person) => person,
        Err(error) => return Filed::No(report_internal(error.into()), None),
    };
    let command = RequestCommand::from_form(&values.group, &values.duration, &values.justification)
        .map(Command::Request);
    let place = &activity.conversation.id;
    match answer(&app.core, asker.clone(), place, command, None, now).await {
        Ok(Answer::Submitted(s)) => {
            Filed::Yes(wording::form_submitted(s.id, &s.group, &s.duration))
        }
        Ok(Answer::Refused(refusal, names)) => {
            let text = wording::form_refusal(&refusal);
            Filed::No(names.replace_in(&text, |key| names.show(key)), Some(asker))
        }
        Ok(_) => Filed::No("That form did not ask for anything.".into(), None),
        Err(error) => Filed::No(report_internal(error), None),
    }
}

/// `Action.Execute`: the invoke answer replaces the form for the person who submitted it — with
/// what became of the request, or with the form again, their input kept, under the reason.
pub async fn on_execute(app: &App, activity: &Activity, now: DateTime<Utc>) -> Value {
    let data = activity
        .value
        .as_ref()
        .and_then(|v| v.pointer("/action/data"));
    let values = FormValues::from_data(data);
    let card = match file(app, activity, &values, now).await {
        Filed::Yes(text) => done(&text),
        Filed::No(text, Some(asker)) => match requestable(&app.core, &asker, now).await {
            Ok(groups) if !groups.is_empty() => card(&groups, &values, Some(&text)),
            Ok(_) => done(&text),
            Err(error) => done(&report_internal(error.into())),
        },
        Filed::No(text, None) => done(&text),
    };
    json!({ "statusCode": 200, "type": CONTENT_TYPE, "value": card })
}

/// The `Action.Submit` fallback: older clients cannot have the card replaced, so a plain reply.
pub async fn on_submit(app: &App, activity: &Activity, now: DateTime<Utc>) -> Reply {
    let values = FormValues::from_data(activity.value.as_ref());
    // What was filed may be said where it was asked; why not is for the person alone.
    match file(app, activity, &values, now).await {
        Filed::Yes(text) => Reply::public(cards::text_message(&text)),
        Filed::No(text, _) => Reply::private(cards::text_message(&text)),
    }
}

/// A card that only says `text`, in place of the form.
fn done(text: &str) -> Value {
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{ "type": "TextBlock", "text": text, "wrap": true }],
    })
}
