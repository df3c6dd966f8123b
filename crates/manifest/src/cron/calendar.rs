//! The proleptic Gregorian calendar in UTC, from the Unix epoch on: what the
//! cron schedule needs to step through dates and to name a time.

/// Seconds in a day (UTC has no leap seconds in Unix time).
pub(crate) const DAY: u64 = 86_400;

/// The first year a time is computed for (the Unix epoch).
pub(crate) const EPOCH_YEAR: u32 = 1970;

/// The last year a time is computed for; later times are "never".
pub(crate) const LAST_YEAR: u32 = 9999;

/// Whether `year` has a February 29th.
pub(crate) fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Leap years from year 1 to `year`, inclusive.
fn leap_years_through(year: u32) -> u64 {
    let y = u64::from(year);
    y / 4 - y / 100 + y / 400
}

/// Days from 1970-01-01 to `year`-`month`-`day` (`year` ≥ 1970).
pub(crate) fn days_since_epoch(year: u32, month: u32, day: u32) -> u64 {
    let whole_years = u64::from(year - EPOCH_YEAR);
    let leap_days = leap_years_through(year - 1) - leap_years_through(EPOCH_YEAR - 1);
    let before_month: u32 = (1..month).map(|m| days_in_month(year, m)).sum();
    whole_years * 365 + leap_days + u64::from(before_month) + u64::from(day) - 1
}

/// The date (year, month, day) `days` after 1970-01-01.
pub(crate) fn date(days: u64) -> (u32, u32, u32) {
    // No year is longer than 366 days, so this is at most the right year;
    // it falls behind by a year only every few centuries.
    let mut year = EPOCH_YEAR + u32::try_from(days / 366).unwrap_or(u32::MAX - EPOCH_YEAR);
    while days_since_epoch(year + 1, 1, 1) <= days {
        year += 1;
    }
    let mut left = days - days_since_epoch(year, 1, 1);
    for month in 1..=12 {
        let length = u64::from(days_in_month(year, month));
        if left < length {
            return (year, month, left as u32 + 1);
        }
        left -= length;
    }
    unreachable!("a year has 12 months")
}

/// Day of the week of the day `days` after 1970-01-01: 0 is Sunday
/// (1970-01-01 was a Thursday).
pub(crate) fn weekday(days: u64) -> u32 {
    ((days + 4) % 7) as u32
}

/// Seconds since the Unix epoch of the first second of 10000-01-01: the
/// first time [`format_utc`] and the schedule do not handle.
pub(crate) fn end_of_time() -> u64 {
    days_since_epoch(LAST_YEAR + 1, 1, 1) * DAY
}

/// `unix` (seconds since the Unix epoch) as `YYYY-MM-DD hh:mm:ss UTC`.
///
/// ```
/// assert_eq!(skiff_manifest::cron::format_utc(0), "1970-01-01 00:00:00 UTC");
/// assert_eq!(
///     skiff_manifest::cron::format_utc(951_782_400),
///     "2000-02-29 00:00:00 UTC"
/// );
/// ```
pub fn format_utc(unix: u64) -> String {
    if unix >= end_of_time() {
        return format!("{unix} s after the Unix epoch");
    }
    let (year, month, day) = date(unix / DAY);
    let second = unix % DAY;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years() {
        assert!(is_leap(2000));
        assert!(is_leap(2024));
        assert!(!is_leap(1900));
        assert!(!is_leap(2100));
        assert!(!is_leap(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
    }

    #[test]
    fn days_and_dates_agree() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(1970, 3, 1), 59);
        // 2000-03-01 is 11017 days after the epoch (date -d 2000-03-01 +%s / 86400).
        assert_eq!(days_since_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_since_epoch(2038, 1, 19), 24_855);
        // Every day from 1970 to 2500 round-trips, in order.
        let mut expected = (1970, 1, 1);
        for days in 0..days_since_epoch(2500, 1, 1) {
            let got = date(days);
            assert_eq!(got, expected, "day {days}");
            assert_eq!(days_since_epoch(got.0, got.1, got.2), days);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
        assert_eq!(date(days_since_epoch(9999, 12, 31)), (9999, 12, 31));
    }

    #[test]
    fn weekdays() {
        assert_eq!(weekday(0), 4); // 1970-01-01, a Thursday
        assert_eq!(weekday(days_since_epoch(2000, 1, 1)), 6); // a Saturday
        assert_eq!(weekday(days_since_epoch(2024, 2, 29)), 4); // a Thursday
        assert_eq!(weekday(days_since_epoch(2025, 6, 1)), 0); // a Sunday
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(end_of_time() - 1), "9999-12-31 23:59:59 UTC");
    }
}
