//! Cron expressions, as `[[trigger.cron]] cron_expression` takes them: parsing
//! with errors that name the field, the bad value and what it may be, and the
//! next time a schedule fires. Times are UTC, in seconds since the Unix epoch.
//!
//! An expression has
//! - 6 fields, `second minute hour day-of-month month day-of-week` — Spin's
//!   cron trigger's form (`"1/2 * * * * *"`: every two seconds from second 1);
//! - 7 fields: the same and a `year` (1970-2100);
//! - 5 fields, a crontab line, `minute hour day-of-month month day-of-week`,
//!   which runs at second 0;
//! - or a shorthand: `@yearly` (`@annually`), `@monthly`, `@weekly`,
//!   `@daily` (`@midnight`), `@hourly`.
//!
//! A field is `*` (every value), a value, a range `a-b`, a step `*/n`, `a/n`
//! (from `a` on) or `a-b/n`, or a comma-separated list of these. Months may be
//! `JAN`-`DEC` and days of the week `SUN`-`SAT`, or their full English names
//! (any case); day of the week 0 and 7 are both Sunday, and a range may end
//! on Sunday (`FRI-SUN`). `?` is `*` in the two day fields.
//!
//! As in standard (Vixie) cron, when both day fields are restricted (neither
//! starts with `*` or `?`), a day that matches **either** runs
//! (`0 0 0 1,15 * MON`: the 1st, the 15th and every Monday); otherwise a day
//! must match both.
//!
//! ```
//! use skiff_manifest::cron::{Schedule, format_utc};
//!
//! let schedule: Schedule = "0 30 9 * * MON-FRI".parse()?;
//! // 2025-06-01 is a Sunday; the next run is Monday at 09:30:00 UTC.
//! let next = schedule.next_after(1_748_736_000).unwrap();
//! assert_eq!(format_utc(next), "2025-06-02 09:30:00 UTC");
//!
//! let error = "*/2 * * 32 * *".parse::<Schedule>().unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "cron expression \"*/2 * * 32 * *\": day-of-month 32 is out of range 1-31"
//! );
//! # Ok::<(), skiff_manifest::cron::CronError>(())
//! ```

mod calendar;
mod parse;

use std::fmt;
use std::str::FromStr;

pub use calendar::format_utc;
use calendar::{DAY, EPOCH_YEAR, days_in_month, days_since_epoch, end_of_time, weekday};

/// The oldest year the `year` field takes.
const FIRST_YEAR: u32 = EPOCH_YEAR;
/// The latest year the `year` field takes (as Spin's cron trigger).
const LAST_CRON_YEAR: u32 = 2100;

/// One field of a cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// 0-59.
    Second,
    /// 0-59.
    Minute,
    /// 0-23.
    Hour,
    /// 1-31.
    DayOfMonth,
    /// 1-12 or `JAN`-`DEC`.
    Month,
    /// 0-7 (0 and 7 are Sunday) or `SUN`-`SAT`.
    DayOfWeek,
    /// 1970-2100.
    Year,
}

impl Field {
    /// The field's name in errors: `second`, `day-of-month` …
    pub fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        }
    }

    /// The values the field accepts.
    pub fn bounds(self) -> (u32, u32) {
        match self {
            Field::DayOfWeek => (0, 7),
            _ => self.span(),
        }
    }

    /// The values `*` stands for.
    fn span(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 6),
            Field::Year => (FIRST_YEAR, LAST_CRON_YEAR),
        }
    }

    fn is_day(self) -> bool {
        matches!(self, Field::DayOfMonth | Field::DayOfWeek)
    }

    /// A value as stored: day of the week 7 is 0 (Sunday), a year counts
    /// from 1970.
    fn normalize(self, v: u32) -> u32 {
        match self {
            Field::DayOfWeek => v % 7,
            Field::Year => v - FIRST_YEAR,
            _ => v,
        }
    }
}

/// A set of small numbers (0-191).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Set([u64; 3]);

impl Set {
    fn insert(&mut self, v: u32) {
        self.0[(v / 64) as usize] |= 1 << (v % 64);
    }

    fn contains(&self, v: u32) -> bool {
        v < 192 && self.0[(v / 64) as usize] & (1 << (v % 64)) != 0
    }

    /// The smallest member ≥ `v`.
    fn at_or_after(&self, v: u32) -> Option<u32> {
        (v..192).find(|&x| self.contains(x))
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..192).filter(|&x| self.contains(x))
    }
}

/// Why an expression was rejected: what is wrong, and how to fix it when
/// there is an idea. Displays as `cron expression "EXPR": MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// The expression, as written.
    pub expression: String,
    /// What is wrong, naming the field and the value: `day-of-month 32 is
    /// out of range 1-31`.
    pub message: String,
    /// How to fix it, when there is an idea.
    pub hint: Option<String>,
}

impl CronError {
    fn new(message: impl Into<String>) -> Self {
        CronError {
            expression: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cron expression {:?}: {}", self.expression, self.message)
    }
}

impl std::error::Error for CronError {}

/// A parsed cron expression: when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    expression: String,
    second: Set,
    minute: Set,
    hour: Set,
    day_of_month: Set,
    month: Set,
    day_of_week: Set,
    /// `None`: every year.
    year: Option<Set>,
    /// The day-of-month and day-of-week fields both restricted: a day
    /// matching either runs.
    either_day: bool,
    /// The day-of-week field names a day by number.
    numbered_weekdays: bool,
}

impl Schedule {
    /// Parses `expression` (see the [module docs](self) for the syntax).
    /// Fails naming the field and the value at fault, and for a schedule
    /// that names no real date (`0 0 0 30 FEB *`).
    pub fn parse(expression: &str) -> Result<Schedule, CronError> {
        Self::parse_inner(expression).map_err(|mut e| {
            e.expression = expression.to_string();
            e
        })
    }

    fn parse_inner(expression: &str) -> Result<Schedule, CronError> {
        let text = expression.trim();
        if text.is_empty() {
            return Err(CronError::new("the expression is empty")
                .hint("e.g. \"0 * * * * *\" (every minute, at second 0)"));
        }
        let expanded = match text.strip_prefix('@') {
            Some(_) => parse::shorthand(text).map_err(|(m, h)| CronError::new(m).hint(h))?,
            None => text,
        };
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            // A crontab line runs at second 0.
            5 => fields.insert(0, "0"),
            6 | 7 => {}
            n => {
                return Err(CronError::new(format!(
                    "{n} field{}; expected 6 (second minute hour day-of-month month \
                     day-of-week, as Spin writes it), 7 (the same and a year) or 5 (a crontab \
                     line: minute hour day-of-month month day-of-week)",
                    if n == 1 { "" } else { "s" }
                ))
                .hint(
                    "e.g. \"*/10 * * * * *\" (every 10 seconds) or \"0 9 * * MON-FRI\" \
                     (09:00 on weekdays)",
                ));
            }
        }
        const ORDER: [Field; 7] = [
            Field::Second,
            Field::Minute,
            Field::Hour,
            Field::DayOfMonth,
            Field::Month,
            Field::DayOfWeek,
            Field::Year,
        ];
        let mut parsed = Vec::with_capacity(fields.len());
        for (field, text) in ORDER.iter().zip(&fields) {
            parsed.push(parse::field(*field, text)?);
        }
        let year = parsed.get(6).map(|p| p.set);
        let schedule = Schedule {
            expression: text.to_string(),
            second: parsed[0].set,
            minute: parsed[1].set,
            hour: parsed[2].set,
            day_of_month: parsed[3].set,
            month: parsed[4].set,
            day_of_week: parsed[5].set,
            year,
            either_day: !parsed[3].star && !parsed[5].star,
            numbered_weekdays: parsed[5].numeric,
        };
        schedule.check_dates()?;
        Ok(schedule)
    }

    /// Fails for a schedule no date satisfies: a day of the month that none
    /// of its months has (and no day of the week to match instead), or no
    /// such date in its years.
    fn check_dates(&self) -> Result<(), CronError> {
        let dom_only = !self.either_day && self.day_of_week.iter().count() == 7;
        if dom_only {
            let fits = self.month.iter().any(|m| {
                let longest = if m == 2 { 29 } else { days_in_month(2001, m) };
                self.day_of_month
                    .at_or_after(1)
                    .is_some_and(|d| d <= longest)
            });
            if !fits {
                let days = join(self.day_of_month.iter().map(|d| d.to_string()));
                let months = join(
                    self.month
                        .iter()
                        .map(|m| parse::MONTHS[m as usize - 1].into()),
                );
                return Err(CronError::new(format!(
                    "day-of-month {days} never falls in month {months}"
                ))
                .hint("February has at most 29 days; April, June, September and November 30"));
            }
        }
        if self.next_after(0).is_none() {
            return Err(
                CronError::new("no date in its years matches the other fields")
                    .hint("e.g. February 29th falls only in leap years; check the year field"),
            );
        }
        Ok(())
    }

    /// Whether the day-of-week field names a day by number (`1-5`), which
    /// Spin's cron trigger plugin counts differently (1 = Sunday there, 1 =
    /// Monday here, as in crontab); names (`MON-FRI`) mean the same on both.
    pub fn numbered_weekdays(&self) -> bool {
        self.numbered_weekdays
    }

    /// The expression, trimmed (a shorthand stays a shorthand).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first time after `unix` (seconds since the Unix epoch, UTC) the
    /// schedule fires, or `None` if it never does again (its last year has
    /// passed, or the time is past the year 9999).
    pub fn next_after(&self, unix: u64) -> Option<u64> {
        let start = unix.checked_add(1)?;
        if start >= end_of_time() {
            return None;
        }
        let (mut year, mut month, mut day) = calendar::date(start / DAY);
        let in_day = start % DAY;
        let (mut hour, mut minute, mut second) = (
            (in_day / 3600) as u32,
            (in_day / 60 % 60) as u32,
            (in_day % 60) as u32,
        );
        // Every 400 years the calendar (days of the week included) repeats:
        // nothing found by then is never.
        let give_up = (year + 401).min(calendar::LAST_YEAR);
        loop {
            if year > give_up {
                return None;
            }
            if let Some(years) = &self.year {
                // None: its last year has passed.
                let y = years.at_or_after(year - FIRST_YEAR)?;
                if y + FIRST_YEAR != year {
                    (year, month, day, hour, minute, second) = (y + FIRST_YEAR, 1, 1, 0, 0, 0);
                }
            }
            match self.month.at_or_after(month) {
                Some(m) if m == month => {}
                Some(m) => {
                    (month, day, hour, minute, second) = (m, 1, 0, 0, 0);
                }
                None => {
                    (year, month, day, hour, minute, second) = (year + 1, 1, 1, 0, 0, 0);
                    continue;
                }
            }
            let length = days_in_month(year, month);
            if !(day <= length && self.day_matches(year, month, day)) {
                match (day + 1..=length).find(|&d| self.day_matches(year, month, d)) {
                    Some(d) => (day, hour, minute, second) = (d, 0, 0, 0),
                    None => {
                        (year, month) = if month == 12 {
                            (year + 1, 1)
                        } else {
                            (year, month + 1)
                        };
                        (day, hour, minute, second) = (1, 0, 0, 0);
                        continue;
                    }
                }
            }
            match self.hour.at_or_after(hour) {
                Some(h) if h == hour => {}
                Some(h) => (hour, minute, second) = (h, 0, 0),
                None => {
                    (day, hour, minute, second) = (day + 1, 0, 0, 0);
                    continue;
                }
            }
            match self.minute.at_or_after(minute) {
                Some(m) if m == minute => {}
                Some(m) => (minute, second) = (m, 0),
                None => {
                    (hour, minute, second) = (hour + 1, 0, 0);
                    // Past 23 the hour matches nothing, moving to the next day.
                    continue;
                }
            }
            match self.second.at_or_after(second) {
                Some(s) => second = s,
                None => {
                    (minute, second) = (minute + 1, 0);
                    continue;
                }
            }
            let days = days_since_epoch(year, month, day);
            return Some(
                days * DAY + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second),
            );
        }
    }

    /// Whether the day fields allow `year`-`month`-`day`.
    fn day_matches(&self, year: u32, month: u32, day: u32) -> bool {
        let by_date = self.day_of_month.contains(day);
        let by_weekday = self
            .day_of_week
            .contains(weekday(days_since_epoch(year, month, day)));
        if self.either_day {
            by_date || by_weekday
        } else {
            by_date && by_weekday
        }
    }
}

fn join(values: impl Iterator<Item = String>) -> String {
    values.collect::<Vec<_>>().join(",")
}

impl FromStr for Schedule {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

#[cfg(test)]
mod tests;
