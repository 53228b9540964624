//! How long access lasts: parsed from `30m`, `2h`, `1h30m`, `1d`, never zero or negative.

use std::fmt;

/// A positive access duration with minute precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccessDuration {
    minutes: u32,
}

/// Why a duration string was not accepted; rendered to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a duration I understand: use minutes, hours or days such as 30m, 2h, 1h30m or 1d"
)]
pub struct DurationError {
    pub input: String,
}

/// Ten years: anything longer is a typo, and keeps arithmetic far from overflow.
const MAX_MINUTES: u64 = 10 * 365 * 24 * 60;

impl AccessDuration {
    pub fn from_minutes(minutes: u32) -> Option<Self> {
        (minutes > 0 && u64::from(minutes) <= MAX_MINUTES).then_some(Self { minutes })
    }

    /// Parses one or more `<number><unit>` parts (`m`, `h`, `d`), e.g. `1h30m`.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let error = || DurationError {
            input: input.to_string(),
        };
        let text = input.trim().to_ascii_lowercase();
        if text.is_empty() {
            return Err(error());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let per_unit = match ch {
                'm' => 1,
                'h' => 60,
                'd' => 24 * 60,
                _ => return Err(error()),
            };
            if digits.is_empty() || digits.len() > 7 {
                return Err(error());
            }
            let amount: u64 = digits.parse().map_err(|_| error())?;
            total += amount * per_unit;
            digits.clear();
        }
        if !digits.is_empty() || total > MAX_MINUTES {
            return Err(error());
        }
        Self::from_minutes(total as u32).ok_or_else(error)
    }

    pub fn minutes(self) -> u32 {
        self.minutes
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.minutes))
    }
}

impl fmt::Display for AccessDuration {
    /// The shortest form that parses back: `2h`, `1h30m`, `1d`, `45m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, rest) = (self.minutes / (24 * 60), self.minutes % (24 * 60));
        let (hours, minutes) = (rest / 60, rest % 60);
        if days > 0 {
            write!(f, "{days}d")?;
        }
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        Ok(())
    }
}

/// "1h 59m", "3d 2h", "12m", "less than a minute": how long until a deadline.
pub fn describe_remaining(remaining: chrono::Duration) -> String {
    let minutes = remaining.num_minutes();
    if minutes < 1 {
        return "less than a minute".to_string();
    }
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "m")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_combinations() {
        assert_eq!(AccessDuration::parse("30m").unwrap().minutes(), 30);
        assert_eq!(AccessDuration::parse("2h").unwrap().minutes(), 120);
        assert_eq!(AccessDuration::parse("1h30m").unwrap().minutes(), 90);
        assert_eq!(AccessDuration::parse("1d").unwrap().minutes(), 1440);
        assert_eq!(AccessDuration::parse("2H").unwrap().minutes(), 120);
    }

    #[test]
    fn rejects_zero_negative_unitless_and_words() {
        for bad in [
            "0m",
            "-1h",
            "2 weeks",
            "2",
            "h",
            "",
            "1w",
            "1.5h",
            "99999999999h",
            "0h0m",
        ] {
            assert!(
                AccessDuration::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn displays_in_a_form_that_parses_back() {
        for text in ["45m", "2h", "1h30m", "1d", "1d2h5m"] {
            assert_eq!(AccessDuration::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn describes_time_left() {
        assert_eq!(
            describe_remaining(chrono::Duration::seconds(30)),
            "less than a minute"
        );
        assert_eq!(describe_remaining(chrono::Duration::minutes(119)), "1h 59m");
        assert_eq!(describe_remaining(chrono::Duration::minutes(1500)), "1d 1h");
    }
}
