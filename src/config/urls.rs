//! URLs in the config: base URLs of the services jitbot calls, and the database's.

use std::path::Path;

use super::place::{Mistake, at};

pub(super) fn resolve_database_url(
    url: &str,
    base_dir: &Path,
    problems: &mut Vec<Mistake>,
) -> String {
    let Some(path) = url.strip_prefix("sqlite://") else {
        if url == "sqlite::memory:" {
            return url.to_string();
        }
        problems.push(at(
            "database_url",
            format!("`{url}` is not a sqlite:// URL such as sqlite://jitbot.db"),
        ));
        return url.to_string();
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("sqlite://{}{query}", path.display())
}

pub(super) fn base_url(key: &str, url: &str, problems: &mut Vec<Mistake>) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push(at(key, format!("`{url}` is not an http(s) URL")));
    }
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}
