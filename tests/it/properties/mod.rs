//! Property tests: arbitrary input to the parsers, the token checks, the card templates and the
//! HTTP edge never panics, gets a clear answer, and changes nothing. Case counts stay modest so
//! the suite stays fast.

mod cards;
mod http_edge;
mod parsers;
mod tokens;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

/// A runner for `cases` cases, failing with the smallest input it finds.
pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Strings people could type, mixed with the words and marks jitbot's parsers look for.
pub fn typed_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        any::<String>(),
        "[a-z0-9#@<>:/._-]{0,12}",
        Just("request".to_string()),
        Just("for".to_string()),
        Just("from".to_string()),
        Just("<@U0BOB>".to_string()),
        Just("<at>0</at>".to_string()),
        Just("1h30m".to_string()),
        Just("99999999d".to_string()),
        Just("tomorrow".to_string()),
        Just("25:61".to_string()),
    ];
    proptest::collection::vec(word, 0..8).prop_map(|words| words.join(" "))
}

/// Any JSON value, with strings and keys that Bot Framework activities and card templates use.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "\\$\\{[a-z$.\\[\\]0-9 =!<>()'\"]{0,16}\\}".prop_map(Value::String),
        "[a-z]{0,4}\\$\\{[a-z.]{0,6}\\}[a-z]{0,4}".prop_map(Value::String),
    ];
    let key = prop_oneof![
        "[a-zA-Z$]{0,8}",
        Just("$data".to_string()),
        Just("$when".to_string()),
        Just("type".to_string()),
        Just("text".to_string()),
        Just("value".to_string()),
        Just("action".to_string()),
        Just("verb".to_string()),
        Just("data".to_string()),
        Just("requestId".to_string()),
        Just("jitVerb".to_string()),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}
