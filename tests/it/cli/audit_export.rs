//! `jitbot audit export`: one line per event, as CSV or JSON lines, filtered by time and group.

use super::trail;
use super::{jitbot, stderr, stdout};
use crate::common::*;

async fn exported(args: &[&str]) -> (TestApp, std::process::Output) {
    let t = TestApp::spawn().await;
    trail::write(&t.app.core.db, Some(&trail::key())).await;
    let config = t.config_path().to_str().unwrap().to_string();
    let mut all = vec!["audit", "--config", &config, "export"];
    all.extend_from_slice(args);
    let output = jitbot(&all);
    (t, output)
}

#[tokio::test]
async fn the_trail_exports_as_csv_with_a_header() {
    let (t, output) = exported(&["--format", "csv"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
    assert_eq!(t.count("audit_events").await, 5, "export keeps history");
}

#[tokio::test]
async fn the_trail_exports_as_json_lines_with_the_raw_detail() {
    let (_t, output) = exported(&["--format", "jsonl"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
    insta::assert_snapshot!(out);
}

#[tokio::test]
async fn an_export_can_be_narrowed_to_a_window_and_a_group() {
    // Events are at 09:00, 09:07, 09:14, 09:21 and 09:28; --until is exclusive.
    let (_t, output) = exported(&[
        "--format",
        "jsonl",
        "--since",
        "2026-03-02T10:07:00+01:00",
        "--until",
        "2026-03-02T09:21:00Z",
    ])
    .await;
    let ids: Vec<i64> = stdout(&output)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [2, 3]);

    let (_t, output) = exported(&["--group", "staging"]).await;
    let csv = stdout(&output);
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and staging's two events: {csv}"
    );
    assert!(!csv.contains("prod-db"), "{csv}");
}

#[tokio::test]
async fn bad_export_options_are_explained() {
    for (args, message) in [
        (
            &["--format", "xml"][..],
            "unknown export format `xml`: use csv or jsonl",
        ),
        (
            &["--since", "yesterday"][..],
            "--since `yesterday` is not an RFC 3339 time",
        ),
        (
            &["--until", "2026-03-02"][..],
            "--until `2026-03-02` is not an RFC 3339 time",
        ),
    ] {
        let (_t, output) = exported(args).await;
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    }
}
