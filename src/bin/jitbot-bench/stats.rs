//! Percentiles of latency samples. A sorted `Vec` is exact and needs no extra crate at the
//! sample counts a bench run produces (a few hundred thousand at most).

use std::time::Duration;

use serde_json::{Value, json};

/// Latencies in milliseconds, sorted once.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    sorted_ms: Vec<f64>,
}

impl Latencies {
    pub fn from_durations(samples: impl IntoIterator<Item = Duration>) -> Self {
        Self::from_ms(samples.into_iter().map(|d| d.as_secs_f64() * 1000.0))
    }

    pub fn from_ms(samples: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted_ms: Vec<f64> = samples.into_iter().collect();
        sorted_ms.sort_by(f64::total_cmp);
        Self { sorted_ms }
    }

    pub fn count(&self) -> usize {
        self.sorted_ms.len()
    }

    /// The `p`-th percentile (nearest rank), `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.sorted_ms.is_empty() {
            return None;
        }
        // The epsilon keeps float error (99.9 % of 1000 = 999.000…1) from moving up a rank.
        let rank = ((p / 100.0) * self.sorted_ms.len() as f64 - 1e-9).ceil() as usize;
        Some(self.sorted_ms[rank.clamp(1, self.sorted_ms.len()) - 1])
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted_ms.last().copied()
    }

    pub fn over(&self, ms: f64) -> usize {
        self.sorted_ms.iter().filter(|v| **v > ms).count()
    }

    /// `{"n", "p50", "p99", "p999", "max"}` in ms, rounded to µs.
    pub fn to_json(&self) -> Value {
        let round = |v: Option<f64>| v.map(|v| (v * 1000.0).round() / 1000.0);
        json!({
            "n": self.count(),
            "p50": round(self.percentile(50.0)),
            "p99": round(self.percentile(99.0)),
            "p999": round(self.percentile(99.9)),
            "max": round(self.max()),
        })
    }
}

/// `12.3` / `1.2 s` / `–` for a table cell.
pub fn ms(value: Option<f64>) -> String {
    match value {
        None => "–".into(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// `a / b` as `×1.8`, when both are known and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some((a / b * 100.0).round() / 100.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latencies::from_ms((1..=1000).map(f64::from));
        assert_eq!(l.percentile(50.0), Some(500.0));
        assert_eq!(l.percentile(99.0), Some(990.0));
        assert_eq!(l.percentile(99.9), Some(999.0));
        assert_eq!(l.max(), Some(1000.0));
        assert_eq!(Latencies::default().percentile(50.0), None);
    }
}
