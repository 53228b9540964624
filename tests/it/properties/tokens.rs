//! Slack's request signature: arbitrary headers and bodies are rejected without a panic, and a
//! signature holds for exactly the body, timestamp and secret it was made with.

use jitbot::slack::verify::{sign, verify};
use proptest::prelude::*;

use super::runner;

const NOW: i64 = 1_700_000_000;

#[test]
fn arbitrary_timestamps_bodies_and_signatures_are_rejected() {
    let input = (
        prop_oneof![any::<String>(), "-?[0-9]{1,25}", Just(NOW.to_string())],
        any::<Vec<u8>>(),
        prop_oneof![any::<String>(), "v0=[0-9a-f]{0,70}", "v[0-9]=[0-9a-f]{64}"],
    );
    runner(256)
        .run(&input, |(timestamp, body, signature)| {
            prop_assert!(verify("secret", &timestamp, &body, &signature, NOW).is_err());
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_signature_holds_for_its_own_body_only() {
    let input = (
        "[ -~]{1,40}",
        any::<Vec<u8>>(),
        -300i64..=300,
        any::<prop::sample::Index>(),
        1u8..=255,
    );
    runner(256)
        .run(&input, |(secret, body, skew, at, flip)| {
            let timestamp = (NOW + skew).to_string();
            let signature = sign(&secret, &timestamp, &body);
            prop_assert!(verify(&secret, &timestamp, &body, &signature, NOW).is_ok());
            // Another secret, another time, one changed byte: each breaks it.
            let other_secret = format!("{secret}x");
            prop_assert!(verify(&other_secret, &timestamp, &body, &signature, NOW).is_err());
            prop_assert!(
                verify(
                    &secret,
                    &(NOW + skew + 1).to_string(),
                    &body,
                    &signature,
                    NOW
                )
                .is_err()
            );
            if !body.is_empty() {
                let mut tampered = body.clone();
                tampered[at.index(body.len())] ^= flip;
                prop_assert!(verify(&secret, &timestamp, &tampered, &signature, NOW).is_err());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_signature_older_or_newer_than_five_minutes_is_rejected() {
    runner(128)
        .run(&(301i64..1_000_000_000, any::<bool>()), |(age, future)| {
            let timestamp = if future { NOW + age } else { NOW - age }.to_string();
            let signature = sign("secret", &timestamp, b"text=help");
            prop_assert!(verify("secret", &timestamp, b"text=help", &signature, NOW).is_err());
            Ok(())
        })
        .unwrap();
}
