//! A group's provider: `provider`, `webhook_url` and `webhook_secret_env`, checked so that
//! events go over https (or to this machine) and are signed with a secret of their own.

use super::group::Problems;
use crate::domain::{ProviderKind, is_plain_http};
use crate::secrets::CREDENTIAL_ENVS;

/// `provider`, `webhook_url` and `webhook_secret_env`: how the group's access is granted.
pub(super) fn provider_kind(
    provider: &str,
    webhook_url: Option<String>,
    secret_env: Option<String>,
    problem: &mut Problems,
) -> ProviderKind {
    if secret_env.is_some() && provider != "webhook" {
        problem.add(
            "webhook_secret_env",
            format!("only the webhook provider takes a webhook_secret_env, not {provider}"),
        );
    }
    if let Some(Err(message)) = secret_env.as_deref().map(check_secret_env) {
        problem.add("webhook_secret_env", message);
    }
    match (provider, webhook_url) {
        ("local", None) => ProviderKind::Local,
        ("webhook", Some(url)) => match check_webhook_url(&url) {
            Ok(()) => ProviderKind::Webhook { url, secret_env },
            Err(message) => {
                problem.add("webhook_url", message);
                ProviderKind::Local
            }
        },
        ("webhook", None) => {
            problem.add(
                "webhook_url",
                "the webhook provider needs a webhook_url".into(),
            );
            ProviderKind::Local
        }
        ("local", Some(_)) => {
            problem.add(
                "webhook_url",
                "only the webhook provider takes a webhook_url".into(),
            );
            ProviderKind::Local
        }
        ("entra-group", None) => ProviderKind::EntraGroup,
        ("entra-pim-group", None) => ProviderKind::EntraPimGroup,
        (kind @ ("entra-group" | "entra-pim-group"), Some(_)) => {
            problem.add(
                "webhook_url",
                format!("the {kind} provider takes no webhook_url"),
            );
            ProviderKind::Local
        }
        (other, _) => {
            problem.add(
                "provider",
                format!(
                    "`{other}` is not a provider; use local, webhook, entra-group or entra-pim-group"
                ),
            );
            ProviderKind::Local
        }
    }
}

/// `webhook_http2 = true`: the group's endpoint, over plain http on this machine (a relay or a
/// service mesh's sidecar), speaks HTTP/2 without TLS. Over https client and server agree on
/// HTTP/2 in the TLS handshake, so the key has nothing to say there.
pub(super) fn webhook_http2(
    wanted: bool,
    provider_name: &str,
    provider: &ProviderKind,
    problem: &mut Problems,
) -> bool {
    if !wanted {
        return false;
    }
    match provider {
        ProviderKind::Webhook { url, .. } if is_plain_http(url) => true,
        ProviderKind::Webhook { .. } => {
            problem.add(
                "webhook_http2",
                "an https:// endpoint agrees on HTTP/2 in the TLS handshake when it offers it; \
                 webhook_http2 is for an http:// endpoint on this machine that speaks HTTP/2"
                    .into(),
            );
            false
        }
        // A webhook group whose address was wrong has been told so already.
        _ if provider_name == "webhook" => false,
        _ => {
            problem.add(
                "webhook_http2",
                "only the webhook provider takes webhook_http2".into(),
            );
            false
        }
    }
}

/// Events say who gets access: they go over https, or over plain http to this machine only.
pub(super) fn check_webhook_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "`{text}` would send events unencrypted over the network: use https:// \
             (http:// is only for 127.0.0.1, [::1] and localhost)"
        )),
        _ => Err(format!("`{text}` is not an https URL")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The name of an environment variable of the webhook's own, not one of jitbot's credentials.
pub(super) fn check_secret_env(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not an environment variable name such as BILLING_WEBHOOK_SECRET"
        ));
    }
    if CREDENTIAL_ENVS.contains(&name) {
        return Err(format!(
            "{name} is one of jitbot's own credentials: give the webhook a secret of its own"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::domain::ProviderKind;
    use std::path::Path;

    fn webhook_group(url: &str, extra: &str) -> String {
        format!(
            "[[group]]\nname = \"billing\"\nprovider = \"webhook\"\nwebhook_url = \"{url}\"\n\
             owners = [\"bob@example.com\"]\n{extra}"
        )
    }

    #[test]
    fn webhook_urls_are_https_or_loopback() {
        for url in [
            "https://automation.example.com/jitbot",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/hook",
            "http://[::1]:9000/hook",
            "http://localhost:9000/hook",
            "http://LOCALHOST/hook",
        ] {
            let config = Config::parse(&webhook_group(url, ""), Path::new("."));
            assert!(config.is_ok(), "{url}: {:?}", config.err());
        }
        for url in [
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "http://127.0.0.1.example.com/hook",
            "http://localhost.example.com/hook",
            "http://[::2]/hook",
        ] {
            let error = Config::parse(&webhook_group(url, ""), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("webhook_url") && error.contains("use https://"),
                "{url}: {error}"
            );
        }
        for url in ["ftp://example.com/hook", "example.com/hook", "https://"] {
            let error = Config::parse(&webhook_group(url, ""), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(error.contains("webhook_url"), "{url}: {error}");
        }
    }

    #[test]
    fn webhook_secret_env_names_a_variable_of_the_webhooks_own() {
        let text = webhook_group(
            "https://a.example.com/",
            "webhook_secret_env = \"BILLING_WEBHOOK_SECRET\"\n",
        );
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.policy.groups[0].provider,
            ProviderKind::Webhook {
                url: "https://a.example.com/".into(),
                secret_env: Some("BILLING_WEBHOOK_SECRET".into()),
            }
        );
        for (name, expected) in [
            ("SLACK_BOT_TOKEN", "one of jitbot's own credentials"),
            ("BILLING SECRET", "not an environment variable name"),
            ("", "not an environment variable name"),
        ] {
            let text = webhook_group(
                "https://a.example.com/",
                &format!("webhook_secret_env = \"{name}\"\n"),
            );
            let error = Config::parse(&text, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
    }
}
