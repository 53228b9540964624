//! Scheduled starts: `from tomorrow 09:00`, `from 2026-12-01 14:30`, `from 14:30` — read in the
//! requester's own time zone, never in the past and at most 30 days ahead.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::lifecycle::LONGEST_SCHEDULE_AHEAD;
use super::refusal::Refusal;

/// A start as typed, before it is read in anyone's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec {
    day: Day,
    time: NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    Today,
    Tomorrow,
    /// The next time the clock shows `time`: today if still ahead, else tomorrow.
    Next,
    On(NaiveDate),
}

impl StartSpec {
    /// Parses the words after `from`; returns the spec and how many words it took.
    pub fn parse_words(words: &[&str]) -> Result<(StartSpec, usize), Refusal> {
        let bad = || Refusal::BadStart(words.iter().take(2).copied().collect::<Vec<_>>().join(" "));
        let first = words.first().ok_or_else(bad)?;
        let day = match first.to_ascii_lowercase().as_str() {
            "today" => Some(Day::Today),
            "tomorrow" => Some(Day::Tomorrow),
            text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(Day::On),
        };
        let (day, time_word, taken) = match day {
            Some(day) => (day, words.get(1), 2),
            None => (Day::Next, Some(first), 1),
        };
        let time = time_word.and_then(|word| time_of(word)).ok_or_else(bad)?;
        Ok((StartSpec { day, time }, taken))
    }

    /// The moment this start means for someone in `zone`, at `now`: in the future, and no more
    /// than 30 days ahead.
    pub fn resolve(&self, zone: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
        let local_now = now.with_timezone(&zone);
        let today = local_now.date_naive();
        let date = match self.day {
            Day::Today => today,
            Day::Tomorrow => today + Days::new(1),
            // Far dates are refused before any arithmetic on them, which could overflow.
            Day::On(date)
                if date > today + Days::new(LONGEST_SCHEDULE_AHEAD.num_days() as u64 + 1) =>
            {
                return Err(Refusal::StartTooFar(self.to_string()));
            }
            Day::On(date) => date,
            Day::Next if local_now.time() < self.time => today,
            Day::Next => today + Days::new(1),
        };
        // In a daylight-saving gap the clock time does not exist: the first moment after it.
        let starts = zone
            .from_local_datetime(&date.and_time(self.time))
            .earliest()
            .or_else(|| {
                let later = date
                    .and_time(self.time)
                    .checked_add_signed(chrono::Duration::hours(1))?;
                zone.from_local_datetime(&later).earliest()
            })
            .ok_or_else(|| Refusal::BadStart(self.to_string()))?
            .with_timezone(&Utc);
        if starts <= now {
            return Err(Refusal::StartInPast(self.to_string()));
        }
        if starts - now > LONGEST_SCHEDULE_AHEAD {
            return Err(Refusal::StartTooFar(self.to_string()));
        }
        Ok(starts)
    }
}

/// `9:00`, `09:00`, `14:30`.
fn time_of(word: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(word, "%H:%M").ok()
}

impl std::fmt::Display for StartSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = self.time.format("%H:%M");
        match self.day {
            Day::Today => write!(f, "today {time}"),
            Day::Tomorrow => write!(f, "tomorrow {time}"),
            Day::Next => write!(f, "{time}"),
            Day::On(date) => write!(f, "{} {time}", date.format("%Y-%m-%d")),
        }
    }
}

impl std::str::FromStr for StartSpec {
    type Err = Refusal;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match StartSpec::parse_words(&words)? {
            (spec, taken) if taken == words.len() => Ok(spec),
            _ => Err(Refusal::BadStart(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn spec(text: &str) -> StartSpec {
        text.parse().unwrap()
    }

    #[test]
    fn reads_tomorrow_in_the_requesters_zone() {
        let now = at("2026-11-28T20:00:00Z");
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            spec("tomorrow 09:00").resolve(berlin, now).unwrap(),
            at("2026-11-29T08:00:00Z")
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            spec("tomorrow 09:00").resolve(new_york, now).unwrap(),
            at("2026-11-29T14:00:00Z")
        );
    }

    #[test]
    fn a_bare_time_means_the_next_time_the_clock_shows_it() {
        let now = at("2026-11-28T10:00:00Z");
        assert_eq!(
            spec("09:30").resolve(Tz::UTC, now).unwrap(),
            at("2026-11-29T09:30:00Z")
        );
        assert_eq!(
            spec("11:00").resolve(Tz::UTC, now).unwrap(),
            at("2026-11-28T11:00:00Z")
        );
    }

    #[test]
    fn refuses_the_past_the_far_future_and_nonsense() {
        let now = at("2026-11-28T10:00:00Z");
        assert!(matches!(
            spec("today 09:00").resolve(Tz::UTC, now),
            Err(Refusal::StartInPast(_))
        ));
        assert!(matches!(
            spec("2027-03-01 09:00").resolve(Tz::UTC, now),
            Err(Refusal::StartTooFar(_))
        ));
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert!(matches!(
            spec("+262142-12-31 23:30").resolve(new_york, now),
            Err(Refusal::StartTooFar(_))
        ));
        assert!("tomorrow".parse::<StartSpec>().is_err());
        assert!("25:00".parse::<StartSpec>().is_err());
        assert!("someday 09:00".parse::<StartSpec>().is_err());
    }

    #[test]
    fn round_trips_through_text() {
        for text in ["tomorrow 09:00", "today 17:45", "2026-12-01 14:30", "08:15"] {
            assert_eq!(spec(text).to_string(), text);
        }
    }
}
