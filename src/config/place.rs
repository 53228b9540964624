//! Where a mistake is: each problem names its key (`teams.service_url`, the 2nd group's
//! `max_duration`), and toml's spanned document table turns that key into a line of the file.

use std::fmt;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

/// One step of a key's path: a table key, or the n-th table of `[[group]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// A mistake and the key it is about.
#[derive(Debug)]
pub(super) struct Mistake {
    pub key: Vec<Step>,
    pub text: String,
}

/// A mistake about a top-level or dotted key (`listen`, `teams.service_url`); the text says
/// `key: message`.
pub(super) fn at(key: &str, message: impl fmt::Display) -> Mistake {
    Mistake {
        key: key.split('.').map(|k| Step::Key(k.to_string())).collect(),
        text: format!("{key}: {message}"),
    }
}

/// A mistake with the line it is on, once the file is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: Option<usize>,
    pub text: String,
}

impl Located {
    /// `file:line: text`, the form editors and terminals jump to.
    pub fn in_file(&self, file: &std::path::Path) -> String {
        match (self.line, file.as_os_str().is_empty()) {
            (Some(line), false) => format!("{}:{line}: {}", file.display(), self.text),
            (Some(line), true) => format!("line {line}: {}", self.text),
            (None, false) => format!("{}: {}", file.display(), self.text),
            (None, true) => self.text.clone(),
        }
    }
}

/// The line of each mistake's key; a key the file leaves out (a default that does not fit)
/// takes the line of the nearest table that holds it.
pub(super) fn locate(text: &str, mistakes: Vec<Mistake>) -> Vec<Located> {
    let root = DeTable::parse(text).ok();
    mistakes
        .into_iter()
        .map(|mistake| Located {
            line: root
                .as_ref()
                .and_then(|root| offset_of(root.get_ref(), &mistake.key))
                .map(|offset| line_at(text, offset)),
            text: mistake.text,
        })
        .collect()
}

/// The byte offset of the deepest part of `key` the document has.
fn offset_of(root: &DeTable<'_>, key: &[Step]) -> Option<usize> {
    let mut table = root;
    let mut found = None;
    let mut value: Option<&DeValue<'_>> = None;
    for step in key {
        match (step, value) {
            (Step::Key(name), None) => {
                let (k, v) = table.iter().find(|(k, _)| k.get_ref() == name.as_str())?;
                found = Some(k.span().start);
                value = Some(v.get_ref());
            }
            (Step::Key(name), Some(DeValue::Table(inner))) => {
                table = inner;
                let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == name.as_str()) else {
                    return found;
                };
                found = Some(k.span().start);
                value = Some(v.get_ref());
            }
            (Step::Index(i), Some(DeValue::Array(items))) => {
                let Some(item) = items.get(*i) else {
                    return found;
                };
                found = Some(item.span().start);
                value = Some(item.get_ref());
            }
            _ => return found,
        }
    }
    found
}

/// Reads the file into `T`, reporting every unknown key and every value of the wrong type
/// rather than only the first: toml's reader stops at one, so each key it named is taken out of
/// the document and the reading tried again. A mistake that names no key (a missing one, or not
/// TOML at all) ends the list.
pub(super) fn read_all<T: DeserializeOwned>(text: &str) -> Result<T, Vec<Located>> {
    let mut root = DeTable::parse(text).map_err(|e| vec![located(text, &e)])?;
    let mut found = Vec::new();
    // Each round takes out one key, so this ends; the bound is a guard, not a limit in practice.
    for _ in 0..100 {
        let error = match T::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(value) if found.is_empty() => return Ok(value),
            Ok(_) => return Err(found),
            Err(error) => error,
        };
        found.push(located(text, &error));
        let taken_out = error
            .span()
            .is_some_and(|span| take_out(root.get_mut(), &span));
        if !taken_out {
            break;
        }
    }
    Err(found)
}

fn located(text: &str, error: &toml::de::Error) -> Located {
    Located {
        line: error.span().map(|span| line_at(text, span.start)),
        text: error.message().trim_end().to_string(),
    }
}

/// Removes the entry whose key or value is at `span`, wherever it is nested.
fn take_out(table: &mut DeTable<'_>, span: &std::ops::Range<usize>) -> bool {
    let hit = table
        .iter()
        .find(|(k, v)| k.span() == *span || v.span() == *span)
        .map(|(k, _)| k.get_ref().to_string());
    if let Some(key) = hit {
        return table.remove(key.as_str()).is_some();
    }
    table.iter_mut().any(|(_, value)| {
        let within = value.span().start <= span.start && span.end <= value.span().end;
        within && take_out_of_value(value.get_mut(), span)
    })
}

fn take_out_of_value(value: &mut DeValue<'_>, span: &std::ops::Range<usize>) -> bool {
    match value {
        DeValue::Table(table) => take_out(table, span),
        DeValue::Array(items) => items
            .iter_mut()
            .any(|item| take_out_of_value(item.get_mut(), span)),
        _ => false,
    }
}

/// The 1-based line of a byte offset.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};

    /// Every mistake of `text`, as `jitbot.toml:line: …`.
    fn mistakes(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new(".")) {
            Err(ConfigError::Invalid { problems, .. }) => problems
                .iter()
                .map(|p| p.in_file(Path::new("jitbot.toml")))
                .collect(),
            Err(ConfigError::Syntax { mistakes, .. }) => mistakes
                .iter()
                .map(|m| m.in_file(Path::new("jitbot.toml")))
                .collect(),
            other => panic!("expected mistakes, got {other:?}"),
        }
    }

    fn has(found: &[String], expected: &str) {
        assert!(
            found.iter().any(|m| m.starts_with(expected)),
            "no mistake starting {expected:?} in {found:#?}"
        );
    }

    const TWO_GROUPS: &str = r#"listen = "nowhere"

[graph]
sweep_interval = "often"

[[group]]
name = "prod-db"
owners = ["bob@example.com"]
max_duration = "2 weeks"

[[group]]
name = "billing"
provider = "webhook"
webhook_url = "ftp://example.com/hook"
owners = ["bob@example.com"]
warn_before = "soon"

[[group]]
name = "prod-db"
provider = "magic"
owners = ["bob@example.com"]
"#;

    #[test]
    fn each_mistake_names_its_line_and_key() {
        let found = mistakes(TWO_GROUPS);
        has(&found, "jitbot.toml:1: listen: `nowhere`");
        has(&found, "jitbot.toml:4: graph.sweep_interval:");
        has(
            &found,
            "jitbot.toml:9: [[group]] #1 `prod-db`, max_duration:",
        );
        has(
            &found,
            "jitbot.toml:14: [[group]] #2 `billing`, webhook_url:",
        );
        has(
            &found,
            "jitbot.toml:16: [[group]] #2 `billing`, warn_before:",
        );
        has(
            &found,
            "jitbot.toml:20: [[group]] #3 `prod-db`, provider: `magic`",
        );
        assert_eq!(found.len(), 6, "{found:#?}");
    }

    #[test]
    fn a_duplicate_group_points_at_its_second_name() {
        let text = "[[group]]\nname = \"a\"\nowners = [\"b@x.io\"]\n\n[[group]]\nname = \"a\"\nowners = [\"b@x.io\"]\n";
        let found = mistakes(text);
        has(
            &found,
            "jitbot.toml:6: [[group]] #2 `a`, name: the name is used",
        );
    }

    #[test]
    fn a_missing_key_points_at_its_group() {
        let text = "[[group]]\nname = \"x\"\nowners = [\"b@x.io\"]\n\n[[group]]\nname = \"hook\"\nprovider = \"webhook\"\nowners = [\"b@x.io\"]\n";
        let found = mistakes(text);
        has(
            &found,
            "jitbot.toml:5: [[group]] #2 `hook`, webhook_url: the webhook provider needs",
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_their_line() {
        let found = mistakes("[teams]\ntrial_mode = \"yes\"\n");
        has(&found, "jitbot.toml:2: invalid type");
        let found =
            mistakes("[[group]]\nname = \"x\"\nowners = [\"b@x.io\"]\nmax_duraton = \"2h\"\n");
        has(&found, "jitbot.toml:4: unknown field `max_duraton`");
    }

    #[test]
    fn a_default_that_does_not_fit_points_at_the_key_that_conflicts() {
        let found = mistakes("listen = \"0.0.0.0:3978\"\n[teams]\n\ntrial_mode = true\n");
        has(&found, "jitbot.toml:4: teams.trial_mode:");
    }
}
