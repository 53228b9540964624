//! The Teams app package: the manifest with the bot's app id filled in, zipped with its two icons.

use crate::domain::identity::Guid;
use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, bail};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

// Embedded so that `jitbot teams-package` works from any directory, not only from a checkout.
const MANIFEST_TEMPLATE: &str = include_str!("../../manifests/teams/manifest.json");
const COLOR_ICON: &[u8] = include_bytes!("../../manifests/teams/color.png");
const OUTLINE_ICON: &[u8] = include_bytes!("../../manifests/teams/outline.png");

const APP_ID_PLACEHOLDER: &str = "{{MICROSOFT_APP_ID}}";

/// Writes the zip a Teams admin uploads. Nothing is written unless the whole package is good.
pub fn write_package(app_id: &str, output: &Path) -> anyhow::Result<()> {
    // The value is not echoed: a swapped MICROSOFT_APP_PASSWORD must not end up in a CI log.
    if Guid::parse(app_id).is_none() {
        bail!(
            "MICROSOFT_APP_ID must be the bot's app id, a GUID such as \
             11111111-2222-3333-4444-555555555555"
        );
    }
    let manifest = MANIFEST_TEMPLATE.replace(APP_ID_PLACEHOLDER, app_id);
    // Teams rejects an upload with a vague "manifest parsing failed"; catch a broken template here.
    serde_json::from_str::<serde_json::Value>(&manifest)
        .context("the embedded Teams manifest is not valid JSON")?;
    if manifest.contains("{{") {
        bail!("the embedded Teams manifest still has a `{{{{…}}}}` placeholder after substitution");
    }

    let zip = zip_files(&[
        ("manifest.json", manifest.as_bytes()),
        ("color.png", COLOR_ICON),
        ("outline.png", OUTLINE_ICON),
    ])
    .context("building the Teams app package")?;
    // Built in memory first so that a failure never leaves a half-written zip behind.
    std::fs::write(output, zip).with_context(|| format!("writing {}", output.display()))
}

/// Teams wants the files at the root of the zip, not inside a folder.
fn zip_files(files: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (name, bytes) in files {
        zip.start_file(*name, options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}
