//! Adaptive Card templating, the part jitbot's templates use: `${path}` bindings, `$data` to
//! change the data context or repeat an element per array item, `$when` to drop an element, and
//! `$root` / `$index`. Only .NET and JavaScript have templating SDKs, so jitbot expands its
//! templates itself and sends Teams plain cards.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A binding names data that is not there: a typo in a template or a missing field.
    #[error("the template binds `{0}`, which the data does not have")]
    Unbound(String),
    #[error("`{0}` is not an expression jitbot's templates support")]
    Unsupported(String),
}

#[derive(Clone, Copy)]
struct Scope<'a> {
    root: &'a Value,
    data: &'a Value,
    index: Option<usize>,
}

/// Expands `template` with `data`. Every binding must resolve: data that is meant to be empty
/// must be present as `null`, `""` or `[]`.
pub fn expand(template: &Value, data: &Value) -> Result<Value, TemplateError> {
    let scope = Scope {
        root: data,
        data,
        index: None,
    };
    Ok(expand_value(template, scope)?.unwrap_or(Value::Null))
}

/// `None` when `$when` drops the element.
fn expand_value(value: &Value, scope: Scope) -> Result<Option<Value>, TemplateError> {
    match value {
        Value::String(text) => expand_string(text, scope).map(Some),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.extend(expand_item(item, scope)?);
            }
            Ok(Some(Value::Array(out)))
        }
        Value::Object(object) => {
            if let Some(binding) = object.get("$data") {
                let data = bound(binding, scope)?;
                return expand_object(
                    object,
                    Scope {
                        data: &data,
                        ..scope
                    },
                );
            }
            expand_object(object, scope)
        }
        other => Ok(Some(other.clone())),
    }
}

/// An array item: a `$data` bound to an array repeats the item once per element.
fn expand_item(item: &Value, scope: Scope) -> Result<Vec<Value>, TemplateError> {
    let Some(binding) = item.as_object().and_then(|o| o.get("$data")) else {
        return Ok(expand_value(item, scope)?.into_iter().collect());
    };
    let object = item.as_object().expect("checked above");
    match bound(binding, scope)? {
        Value::Array(elements) => {
            let mut out = Vec::new();
            for (index, element) in elements.iter().enumerate() {
                let scope = Scope {
                    data: element,
                    index: Some(index),
                    ..scope
                };
                out.extend(expand_object(object, scope)?);
            }
            Ok(out)
        }
        data => Ok(expand_object(
            object,
            Scope {
                data: &data,
                ..scope
            },
        )?
        .into_iter()
        .collect()),
    }
}

fn expand_object(
    object: &Map<String, Value>,
    scope: Scope,
) -> Result<Option<Value>, TemplateError> {
    if let Some(condition) = object.get("$when")
        && !truthy(&bound(condition, scope)?)
    {
        return Ok(None);
    }
    let mut out = Map::new();
    for (key, value) in object {
        if key == "$data" || key == "$when" {
            continue;
        }
        if let Some(expanded) = expand_value(value, scope)? {
            out.insert(key.clone(), expanded);
        }
    }
    Ok(Some(Value::Object(out)))
}

/// A `$data` or `$when` value: a binding string, or a literal.
fn bound(value: &Value, scope: Scope) -> Result<Value, TemplateError> {
    match value {
        Value::String(text) => expand_string(text, scope),
        other => Ok(other.clone()),
    }
}

/// A string that is exactly one `${…}` takes the bound value as it is (an array, a number …);
/// otherwise every binding is written into the text.
fn expand_string(text: &str, scope: Scope) -> Result<Value, TemplateError> {
    if let Some(expression) = whole_binding(text) {
        return resolve(expression, scope);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError::Unsupported(rest[start..].to_string()))?;
        match resolve(&after[..end], scope)? {
            Value::String(s) => out.push_str(&s),
            Value::Null => {}
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn whole_binding(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains("${") && !inner.contains('}')).then_some(inner)
}

/// Resolves `path`, `!path`, `$root.path`, `$data`, `$index` and `a.b[0].c`.
fn resolve(expression: &str, scope: Scope) -> Result<Value, TemplateError> {
    let expression = expression.trim();
    if let Some(negated) = expression.strip_prefix('!') {
        return Ok(Value::Bool(!truthy(&resolve(negated, scope)?)));
    }
    if expression == "$index" {
        return Ok(scope.index.map(Value::from).unwrap_or(Value::Null));
    }
    let (mut current, path) = if let Some(path) = expression.strip_prefix("$root") {
        (scope.root, path)
    } else if let Some(path) = expression.strip_prefix("$data") {
        (scope.data, path)
    } else {
        (scope.data, expression)
    };
    for step in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = match step.find('[') {
            Some(at) => (&step[..at], &step[at..]),
            None => (step, ""),
        };
        if !name.is_empty() {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(TemplateError::Unsupported(expression.to_string()));
            }
            current = current
                .get(name)
                .ok_or_else(|| TemplateError::Unbound(expression.to_string()))?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let index: usize = index
                .strip_suffix(']')
                .and_then(|i| i.parse().ok())
                .ok_or_else(|| TemplateError::Unsupported(expression.to_string()))?;
            current = current
                .get(index)
                .ok_or_else(|| TemplateError::Unbound(expression.to_string()))?;
        }
    }
    Ok(current.clone())
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn binds_values_into_text_and_whole_values() {
        let template =
            json!({ "text": "Request #${id} for ${group.name}", "ids": "${users}", "n": "${id}" });
        let data = json!({ "id": 42, "group": { "name": "prod-db" }, "users": ["29:a", "29:b"] });
        assert_eq!(
            expand(&template, &data).unwrap(),
            json!({ "text": "Request #42 for prod-db", "ids": ["29:a", "29:b"], "n": 42 })
        );
    }

    #[test]
    fn repeats_elements_over_arrays_and_drops_them_with_when() {
        let template = json!({ "body": [
            { "$data": "${decisions}", "type": "TextBlock", "text": "${$index}: ${text} (${$root.id})" },
            { "$when": "${pending}", "type": "ActionSet" },
            { "$when": "${!pending}", "type": "TextBlock", "text": "decided" }
        ]});
        let data = json!({ "id": 7, "pending": false, "decisions": [{ "text": "approved" }, { "text": "denied" }] });
        assert_eq!(
            expand(&template, &data).unwrap(),
            json!({ "body": [
                { "type": "TextBlock", "text": "0: approved (7)" },
                { "type": "TextBlock", "text": "1: denied (7)" },
                { "type": "TextBlock", "text": "decided" }
            ]})
        );
    }

    #[test]
    fn an_unbound_name_is_an_error_not_an_empty_string() {
        let error = expand(&json!({ "text": "${nmae}" }), &json!({ "name": "x" })).unwrap_err();
        assert_eq!(error, TemplateError::Unbound("nmae".into()));
        assert!(expand(&json!("${a-b}"), &json!({})).is_err());
        assert!(expand(&json!("${unclosed"), &json!({})).is_err());
    }
}
