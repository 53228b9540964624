//! `audit_database_url` and `audit_retention`: where the audit trail lives and how long it is
//! kept.

use std::path::Path;
use std::time::Duration;

use super::place::{Mistake, at};
use super::urls::resolve_database_url;

/// Thirty days: a shorter retention is almost surely a typo (`30m` for `30d`), and no auditor
/// asks for less.
pub const MIN_AUDIT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// A hundred years: beyond it "now − retention" leaves the range of dates jitbot can compute.
pub const MAX_AUDIT_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditConfig {
    /// The trail's own SQLite file, absolute; `None`: the trail lives in the main database.
    pub database_url: Option<String>,
    /// Events older than this are removed; `None`: kept for ever.
    pub retention: Option<Duration>,
}

/// Reads both keys; `main` is the resolved `database_url` and the config's folder.
pub(super) fn audit_config(
    url: Option<&str>,
    retention: Option<&str>,
    (main, base_dir): (&str, &Path),
    problems: &mut Vec<Mistake>,
) -> AuditConfig {
    let database_url = url.map(|url| {
        let resolved = resolve_database_url("audit_database_url", url, base_dir, problems);
        if resolved.contains(":memory:") {
            problems.push(at(
                "audit_database_url",
                "an in-memory database loses the trail when jitbot stops: name a file such as \
                 sqlite://audit.db",
            ));
        } else if same_file(&resolved, main) {
            problems.push(at(
                "audit_database_url",
                format!(
                    "`{url}` is the main database itself: name another file, ideally one only \
                     jitbot's own user may write"
                ),
            ));
        }
        resolved
    });
    let retention = retention.and_then(|text| match humantime::parse_duration(text) {
        Ok(keep) if (MIN_AUDIT_RETENTION..=MAX_AUDIT_RETENTION).contains(&keep) => Some(keep),
        Ok(keep) if keep > MAX_AUDIT_RETENTION => {
            problems.push(at(
                "audit_retention",
                format!("`{text}` is longer than the maximum of 100 years (leave it out to keep everything)"),
            ));
            None
        }
        Ok(_) => {
            problems.push(at(
                "audit_retention",
                format!("`{text}` is shorter than the minimum of 30 days"),
            ));
            None
        }
        Err(error) => {
            problems.push(at(
                "audit_retention",
                format!("`{text}` is not a duration such as 400d or 2years ({error})"),
            ));
            None
        }
    });
    AuditConfig {
        database_url,
        retention,
    }
}

fn same_file(a: &str, b: &str) -> bool {
    let path = |url: &str| url.split('?').next().unwrap_or(url).to_string();
    path(a) == path(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(url: Option<&str>, retention: Option<&str>) -> (AuditConfig, Vec<String>) {
        let mut problems = Vec::new();
        let config = audit_config(
            url,
            retention,
            ("sqlite:///etc/jitbot/jitbot.db", Path::new("/etc/jitbot")),
            &mut problems,
        );
        (config, problems.into_iter().map(|p| p.text).collect())
    }

    #[test]
    fn reads_the_audit_database_and_retention() {
        let (config, problems) = read(Some("sqlite://audit.db"), Some("400d"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            config.database_url.as_deref(),
            Some("sqlite:///etc/jitbot/audit.db")
        );
        assert_eq!(config.retention, Some(Duration::from_secs(400 * 86400)));
        let (config, _) = read(None, None);
        assert!(config.database_url.is_none() && config.retention.is_none());
    }

    #[test]
    fn names_the_key_of_every_mistake() {
        for (url, retention, expected) in [
            (
                Some("sqlite://jitbot.db"),
                None,
                "audit_database_url: `sqlite://jitbot.db` is the main database",
            ),
            (
                Some("sqlite::memory:"),
                None,
                "audit_database_url: an in-memory database",
            ),
            (
                Some("postgres://audit"),
                None,
                "audit_database_url: `postgres://audit` is not a sqlite:// URL",
            ),
            (
                None,
                Some("30m"),
                "audit_retention: `30m` is shorter than the minimum of 30 days",
            ),
            (
                None,
                Some("1000000years"),
                "audit_retention: `1000000years` is longer than the maximum of 100 years",
            ),
            (
                None,
                Some("forever"),
                "audit_retention: `forever` is not a duration",
            ),
        ] {
            let (_, problems) = read(url, retention);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected} not in {problems:?}"
            );
        }
    }
}
