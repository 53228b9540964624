//! Card templates and Teams activities: any JSON expands or is refused with a reason, and any
//! activity that deserialises can be read without a panic.

use jitbot::teams::activity::Activity;
use jitbot::teams::template::expand;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{json_value, runner, typed_text};

#[test]
fn any_template_with_any_data_expands_or_is_refused() {
    runner(256)
        .run(&(json_value(), json_value()), |(template, data)| {
            if let Err(error) = expand(&template, &data) {
                prop_assert!(!error.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_template_without_bindings_expands_to_itself() {
    runner(256)
        .run(&json_value(), |template| {
            prop_assume!(!template.to_string().contains('$'));
            prop_assert_eq!(expand(&template, &json!({})), Ok(template));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_binding_expands_to_the_text_it_names() {
    runner(256)
        .run(&any::<String>(), |text| {
            let template = json!({ "type": "TextBlock", "text": "${name}" });
            let expanded = expand(&template, &json!({ "name": text.clone() })).unwrap();
            prop_assert_eq!(&expanded["text"], &Value::String(text));
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_json_is_an_activity_or_not_and_reading_one_never_panics() {
    let activity =
        (json_value(), typed_text(), json_value()).prop_map(|(value, text, entities)| {
            json!({
                "type": "message", "serviceUrl": "https://smba.trafficmanager.net/teams/",
                "channelId": "msteams", "conversation": { "id": "a:1" }, "text": text,
                "value": value, "entities": if entities.is_array() { entities } else { json!([]) },
                "recipient": { "id": "28:bot" },
            })
        });
    runner(256)
        .run(&prop_oneof![json_value(), activity], |body| {
            if let Ok(activity) = serde_json::from_value::<Activity>(body) {
                let _ = activity.command_text();
                let _ = activity.card_action();
                let _ = activity.tenant_id();
                let _ = activity.is_personal();
            }
            Ok(())
        })
        .unwrap();
}
