//! Cron schedules of timer triggers, in the NCRONTAB form Azure Functions uses:
//! `{second} {minute} {hour} {day} {month} {day-of-week}` (UTC). Each field takes `*`,
//! numbers, ranges `a-b`, lists `a,b`, and steps `*/n` or `a-b/n`; months and days of the
//! week also take names (`Jan`, `Mon`). A five-field expression leaves out the seconds
//! (they are 0).

use std::fmt;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// What a timer-triggered client function learns about the tick it runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerInfo {
    /// The tick's scheduled time.
    pub scheduled_time: DateTime<Utc>,
    /// True when the tick was missed while no host was running and fires late.
    pub is_past_due: bool,
}

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(text: &str, field: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = names.iter().position(|n| *n == lower) {
        return Ok(min + index as u32);
    }
    let number: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` in the {field} field is not a number"))?;
    if number < min || number > max {
        return Err(format!(
            "{number} in the {field} field is out of range {min}-{max}"
        ));
    }
    Ok(number)
}

/// Parses one field into a bit set of allowed values.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("step `{step}` in the {name} field is not a positive number")
                })?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, name, min, max, names)?,
                value(b, name, min, max, names)?,
            )
        } else {
            let single = value(range, name, min, max, names)?;
            // `5/10` means from 5 to the end in steps of 10.
            (single, if part.contains('/') { max } else { single })
        };
        if low > high {
            return Err(format!(
                "range `{range}` in the {name} field runs backwards"
            ));
        }
        let mut v = low;
        while v <= high {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses a schedule; the error says which field is wrong.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let parts: Vec<&str> = match parts.len() {
            6 => parts,
            5 => std::iter::once("0").chain(parts).collect(),
            n => {
                return Err(format!(
                    "a schedule has 6 fields (second minute hour day month day-of-week), not {n}"
                ));
            }
        };
        let mut weekdays = field(parts[5], "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Schedule {
            text: text.trim().to_owned(),
            seconds: field(parts[0], "second", 0, 59, &[])?,
            minutes: field(parts[1], "minute", 0, 59, &[])?,
            hours: field(parts[2], "hour", 0, 23, &[])?,
            days: field(parts[3], "day", 1, 31, &[])?,
            months: field(parts[4], "month", 1, 12, &MONTHS)?,
            weekdays,
        })
    }

    fn matches(&self, t: &DateTime<Utc>) -> bool {
        self.seconds & (1 << t.second()) != 0
            && self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.days & (1 << t.day()) != 0
            && self.months & (1 << t.month()) != 0
            && self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0
    }

    /// The first tick strictly after `after`, within about five years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = Utc.timestamp_opt(after.timestamp() + 1, 0).single()?;
        let mut t = start;
        let limit = start + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                let (year, month) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()?;
                continue;
            }
            if self.days & (1 << t.day()) == 0
                || self.weekdays & (1 << t.weekday().num_days_from_sunday()) == 0
            {
                t = (t + Duration::days(1))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)?
                    .and_utc();
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with_minute(0)?.with_second(0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.with_second(0)? + Duration::minutes(1);
                continue;
            }
            if self.matches(&t) {
                return Some(t);
            }
            t += Duration::seconds(1);
        }
        None
    }

    /// The last tick at or before `now` and after `since`, if any: the tick a host that
    /// was down missed.
    pub fn last_missed(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut last = None;
        let mut t = since;
        while let Some(next) = self.next_after(t) {
            if next > now {
                break;
            }
            last = Some(next);
            t = next;
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn every_five_minutes() {
        let s = Schedule::parse("0 */5 * * * *").expect("parses");
        assert_eq!(
            s.next_after(at("2024-01-01T10:02:30Z")),
            Some(at("2024-01-01T10:05:00Z"))
        );
        assert_eq!(
            s.next_after(at("2024-01-01T10:05:00Z")),
            Some(at("2024-01-01T10:10:00Z"))
        );
    }

    #[test]
    fn weekdays_at_nine_with_names() {
        let s = Schedule::parse("0 0 9 * * Mon-Fri").expect("parses");
        // 2024-01-06 is a Saturday.
        assert_eq!(
            s.next_after(at("2024-01-06T12:00:00Z")),
            Some(at("2024-01-08T09:00:00Z"))
        );
        let five = Schedule::parse("30 9 * Jan *").expect("five fields");
        assert_eq!(
            five.next_after(at("2024-12-31T23:00:00Z")),
            Some(at("2025-01-01T09:30:00Z"))
        );
    }

    #[test]
    fn every_second_and_lists() {
        let s = Schedule::parse("* * * * * *").expect("parses");
        assert_eq!(
            s.next_after(at("2024-01-01T00:00:00Z")),
            Some(at("2024-01-01T00:00:01Z"))
        );
        let s = Schedule::parse("5,35 0 0 1 1 *").expect("parses");
        assert_eq!(
            s.next_after(at("2024-01-01T00:00:05Z")),
            Some(at("2024-01-01T00:00:35Z"))
        );
        assert_eq!(
            s.next_after(at("2024-01-01T00:00:35Z")),
            Some(at("2025-01-01T00:00:05Z"))
        );
    }

    #[test]
    fn the_last_missed_tick() {
        let s = Schedule::parse("0 0 * * * *").expect("hourly");
        assert_eq!(
            s.last_missed(at("2024-01-01T10:00:00Z"), at("2024-01-01T13:30:00Z")),
            Some(at("2024-01-01T13:00:00Z"))
        );
        assert_eq!(
            s.last_missed(at("2024-01-01T10:00:00Z"), at("2024-01-01T10:59:59Z")),
            None
        );
    }

    #[test]
    fn errors_name_the_field() {
        for (text, needle) in [
            ("0 */5 * * * x", "not a number"),
            ("61 * * * * *", "second field"),
            ("0 0 25 * * *", "hour field"),
            ("0 0 0 * Foo *", "month field"),
            ("0 0 0 * * */0", "step"),
            ("* *", "6 fields"),
            ("0 30-10 * * * *", "backwards"),
        ] {
            let error = Schedule::parse(text).expect_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
