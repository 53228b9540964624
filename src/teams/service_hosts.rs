//! Where the Bot Connector token may go: the Bot Framework's own hosts, never a `serviceUrl`
//! that an activity merely names.

use std::net::IpAddr;

/// The Bot Framework's Connector hosts: public cloud, GCC, GCC High, DoD and the sovereign
/// clouds (`*.` matches any subdomain).
pub const DEFAULT: &[&str] = &[
    "smba.trafficmanager.net",
    "*.botframework.com",
    "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us",
    "smba.infra.dod.teams.microsoft.us",
    "*.botframework.us",
    "*.botframework.azure.us",
    "*.botframework.azure.cn",
];

/// The hosts jitbot sends Bot Connector calls (and its token) to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHosts {
    patterns: Vec<String>,
}

impl ServiceHosts {
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Self {
        Self {
            patterns: patterns
                .into_iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Local trial mode: the emulator on this machine, and nothing else.
    pub fn loopback_only() -> Self {
        Self::new(Vec::new())
    }

    /// Whether `service_url` may be called: https to a listed host, or plain http only to a
    /// listed loopback address (tests, and trial mode, where every loopback address counts).
    pub fn permits(&self, service_url: &str) -> bool {
        let Ok(url) = url::Url::parse(service_url) else {
            return false;
        };
        let Some(host) = url
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        else {
            return false;
        };
        let loopback = is_loopback(&host);
        let listed = self.patterns.iter().any(|pattern| matches(pattern, &host));
        match url.scheme() {
            "https" => listed || (self.patterns.is_empty() && loopback),
            "http" => loopback && (listed || self.patterns.is_empty()),
            _ => false,
        }
    }
}

fn matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
        None => pattern == host,
    }
}

/// `localhost` or an address in 127.0.0.0/8 or `::1`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ServiceHosts {
        ServiceHosts::new(DEFAULT.iter().map(|h| h.to_string()))
    }

    #[test]
    fn only_bot_framework_hosts_over_https() {
        let hosts = defaults();
        assert!(hosts.permits("https://smba.trafficmanager.net/emea/"));
        assert!(hosts.permits("https://europe.smba.botframework.com/"));
        assert!(hosts.permits("https://smba.infra.gcc.teams.microsoft.com/gcc"));
        assert!(!hosts.permits("http://smba.trafficmanager.net/emea/"));
        assert!(!hosts.permits("https://evil.example/"));
        assert!(!hosts.permits("https://botframework.com.evil.example/"));
        assert!(!hosts.permits("https://evilbotframework.com/"));
        assert!(!hosts.permits("https://botframework.com/"));
        assert!(!hosts.permits("http://127.0.0.1:9/"));
        assert!(!hosts.permits("not a url"));
    }

    #[test]
    fn loopback_only_when_listed_or_in_trial_mode() {
        let listed = ServiceHosts::new(["127.0.0.1".to_string()]);
        assert!(listed.permits("http://127.0.0.1:3979/"));
        assert!(!listed.permits("http://localhost:3979/"));
        assert!(!listed.permits("http://10.0.0.1/"));
        let trial = ServiceHosts::loopback_only();
        assert!(trial.permits("http://localhost:3979/"));
        assert!(trial.permits("http://[::1]:3979/"));
        assert!(!trial.permits("https://smba.trafficmanager.net/emea/"));
        assert!(!trial.permits("http://192.168.1.2/"));
    }
}
