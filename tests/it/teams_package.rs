//! `jitbot teams-package`: the zip a Teams admin uploads, checked the way Teams would read it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

const APP_ID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

fn teams_package(app_id: Option<&str>, output: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitbot"));
    command
        .args(["teams-package", "--output", output.to_str().unwrap()])
        .env_remove("JITBOT_CONFIG")
        .env_remove("MICROSOFT_APP_ID");
    if let Some(app_id) = app_id {
        command.env("MICROSOFT_APP_ID", app_id);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The package as Teams sees it: file name → contents.
fn unzip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

/// Width, height and colour type from the IHDR chunk, which a PNG must start with.
fn png_header(bytes: &[u8]) -> (u32, u32, u8) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height, bytes[25])
}

#[test]
fn the_package_holds_the_manifest_and_both_icons_at_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot-teams.zip");
    let output = teams_package(Some(APP_ID), &path);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&path.display().to_string()),
        "{}",
        stdout(&output)
    );

    let files = unzip(&path);
    let mut names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);
}

#[test]
fn the_manifest_carries_the_bot_app_id_and_no_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot-teams.zip");
    let output = teams_package(Some(APP_ID), &path);
    assert!(output.status.success(), "{}", stderr(&output));

    let files = unzip(&path);
    let text = std::str::from_utf8(file(&files, "manifest.json")).unwrap();
    assert!(!text.contains("{{"), "{text}");
    let manifest: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(manifest["manifestVersion"], "1.19");
    assert!(
        manifest["$schema"]
            .as_str()
            .unwrap()
            .contains("/v1.19/MicrosoftTeams.schema.json")
    );
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["bots"][0]["botId"], APP_ID);
    assert_eq!(manifest["icons"]["color"], "color.png");
    assert_eq!(manifest["icons"]["outline"], "outline.png");
    let commands: Vec<&str> = manifest["bots"][0]["commandLists"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        ["jit request", "jit groups", "jit status", "jit help"]
    );
}

#[test]
fn the_icons_are_pngs_of_the_sizes_teams_requires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot-teams.zip");
    let output = teams_package(Some(APP_ID), &path);
    assert!(output.status.success(), "{}", stderr(&output));

    let files = unzip(&path);
    let (width, height, _) = png_header(file(&files, "color.png"));
    assert_eq!((width, height), (192, 192));
    let (width, height, colour_type) = png_header(file(&files, "outline.png"));
    assert_eq!((width, height), (32, 32));
    assert_eq!(
        colour_type, 6,
        "the outline icon needs an alpha channel (RGBA)"
    );
}

#[test]
fn a_missing_app_id_is_explained_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot-teams.zip");
    let output = teams_package(None, &path);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(error.contains("MICROSOFT_APP_ID"), "{error}");
    assert!(error.contains("--app-id"), "{error}");
    assert!(!path.exists());
}

#[test]
fn a_malformed_app_id_is_explained_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot-teams.zip");
    for app_id in [
        "my-bot",
        "{{MICROSOFT_APP_ID}}",
        "0a1b2c3d4e5f6789abcdef0123456789",
    ] {
        let output = teams_package(Some(app_id), &path);
        assert!(!output.status.success(), "{app_id} was accepted");
        let error = stderr(&output);
        assert!(
            error.contains("MICROSOFT_APP_ID must be the bot's app id, a GUID such as"),
            "{error}"
        );
        assert!(!path.exists(), "{app_id} left a file behind");
    }
}
