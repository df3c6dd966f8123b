//! Parsing and next-fire-time cases: month lengths, leap years, the day rule,
//! the year field, the crontab form, names, steps and every error.

use super::calendar::{DAY, days_since_epoch};
use super::*;

/// `YYYY-MM-DD hh:mm:ss` as Unix seconds.
fn at(text: &str) -> u64 {
    let n: Vec<u32> = text
        .split(['-', ' ', ':'])
        .map(|p| p.parse().unwrap())
        .collect();
    days_since_epoch(n[0], n[1], n[2]) * DAY
        + u64::from(n[3]) * 3600
        + u64::from(n[4]) * 60
        + u64::from(n[5])
}

fn schedule(expression: &str) -> Schedule {
    Schedule::parse(expression).unwrap_or_else(|e| panic!("{e}"))
}

/// The next `count` fire times of `expression` after `from`, formatted
/// without the ` UTC`.
fn next(expression: &str, from: &str, count: usize) -> Vec<String> {
    let s = schedule(expression);
    let mut t = at(from);
    let mut out = Vec::new();
    for _ in 0..count {
        t = s
            .next_after(t)
            .unwrap_or_else(|| panic!("`{expression}` never fires after {t}"));
        out.push(format_utc(t).trim_end_matches(" UTC").to_string());
    }
    out
}

/// The error for `expression`: its message and hint.
fn error(expression: &str) -> (String, Option<String>) {
    match Schedule::parse(expression) {
        Ok(s) => panic!("`{expression}` parsed: {s:?}"),
        Err(e) => {
            assert_eq!(e.expression, expression);
            (e.message, e.hint)
        }
    }
}

/// Asserts that `a` and `b` fire at the same times.
#[track_caller]
fn same_times(a: &str, b: &str) {
    let (a, mut b) = (schedule(a), schedule(b));
    b.expression = a.expression.clone();
    b.numbered_weekdays = a.numbered_weekdays;
    assert_eq!(a, b);
}

#[track_caller]
fn message(expression: &str, want: &str) {
    assert_eq!(error(expression).0, want, "for `{expression}`");
}

#[test]
fn every_second_and_spins_example() {
    assert_eq!(
        next("* * * * * *", "2025-06-01 23:59:58", 3),
        [
            "2025-06-01 23:59:59",
            "2025-06-02 00:00:00",
            "2025-06-02 00:00:01"
        ]
    );
    // Spin's example: every two seconds from second 1.
    assert_eq!(
        next("1/2 * * * * *", "2025-06-01 10:00:56", 3),
        [
            "2025-06-01 10:00:57",
            "2025-06-01 10:00:59",
            "2025-06-01 10:01:01"
        ]
    );
    // The time itself is not "after" it.
    assert_eq!(
        schedule("*/5 * * * * *").next_after(at("2025-06-01 10:00:05")),
        Some(at("2025-06-01 10:00:10"))
    );
}

#[test]
fn five_fields_are_a_crontab_line_at_second_zero() {
    assert_eq!(
        next("*/15 * * * *", "2025-06-01 10:07:30", 2),
        ["2025-06-01 10:15:00", "2025-06-01 10:30:00"]
    );
    // 2025-06-06 is a Friday: after 09:00 the next weekday is Monday.
    assert_eq!(
        next("0 9 * * MON-FRI", "2025-06-06 09:00:00", 2),
        ["2025-06-09 09:00:00", "2025-06-10 09:00:00"]
    );
    same_times("0 9 * * 1-5", "0 0 9 * * MON-FRI");
}

#[test]
fn leap_days() {
    assert_eq!(
        next("0 0 0 29 2 *", "2025-01-01 00:00:00", 3),
        [
            "2028-02-29 00:00:00",
            "2032-02-29 00:00:00",
            "2036-02-29 00:00:00"
        ]
    );
    // 2100 is not a leap year.
    assert_eq!(
        next("0 0 0 29 FEB *", "2096-03-01 00:00:00", 1),
        ["2104-02-29 00:00:00"]
    );
    assert_eq!(
        next("0 0 0 28 2 *", "2024-02-28 00:00:00", 1),
        ["2025-02-28 00:00:00"]
    );
}

#[test]
fn the_31st_skips_shorter_months() {
    assert_eq!(
        next("0 0 12 31 * *", "2025-04-01 00:00:00", 4),
        [
            "2025-05-31 12:00:00",
            "2025-07-31 12:00:00",
            "2025-08-31 12:00:00",
            "2025-10-31 12:00:00"
        ]
    );
    assert_eq!(
        next("0 0 0 30 * *", "2025-01-30 00:00:00", 2),
        ["2025-03-30 00:00:00", "2025-04-30 00:00:00"]
    );
    // Across a year's end.
    assert_eq!(
        next("59 59 23 31 12 *", "2025-12-31 23:59:59", 1),
        ["2026-12-31 23:59:59"]
    );
    assert_eq!(
        next("0 0 0 1 1 *", "2025-12-31 23:59:59", 1),
        ["2026-01-01 00:00:00"]
    );
}

#[test]
fn both_day_fields_restricted_means_either() {
    // 2025-06-01 is a Sunday; Fridays are the 6th, 13th, 20th.
    assert_eq!(
        next("0 0 0 13 * FRI", "2025-06-01 00:00:00", 3),
        [
            "2025-06-06 00:00:00",
            "2025-06-13 00:00:00",
            "2025-06-20 00:00:00"
        ]
    );
    assert_eq!(
        next("0 0 0 1,15 * MON", "2025-06-01 00:00:00", 4),
        [
            "2025-06-02 00:00:00",
            "2025-06-09 00:00:00",
            "2025-06-15 00:00:00",
            "2025-06-16 00:00:00"
        ]
    );
    // A day field starting with `*` is unrestricted: both must match (odd
    // days that are Mondays: June 2025's Mondays are 2, 9, 16, 23, 30).
    assert_eq!(
        next("0 0 0 */2 * MON", "2025-06-01 00:00:00", 2),
        ["2025-06-09 00:00:00", "2025-06-23 00:00:00"]
    );
    assert_eq!(
        next("0 0 0 ? * MON", "2025-06-01 00:00:00", 2),
        ["2025-06-02 00:00:00", "2025-06-09 00:00:00"]
    );
    assert_eq!(
        next("0 0 0 13 * ?", "2025-06-01 00:00:00", 2),
        ["2025-06-13 00:00:00", "2025-07-13 00:00:00"]
    );
}

#[test]
fn year_field() {
    let s = schedule("0 0 0 1 1 * 2030");
    assert_eq!(
        s.next_after(at("2025-06-01 00:00:00")),
        Some(at("2030-01-01 00:00:00"))
    );
    assert_eq!(s.next_after(at("2030-01-01 00:00:00")), None);
    assert_eq!(
        next("0 0 0 1 1 * 2027-2031/2", "2025-06-01 00:00:00", 3),
        [
            "2027-01-01 00:00:00",
            "2029-01-01 00:00:00",
            "2031-01-01 00:00:00"
        ]
    );
    assert_eq!(
        next("0 0 0 * * * 2099,2100", "2025-06-01 00:00:00", 1),
        ["2099-01-01 00:00:00"]
    );
    assert_eq!(
        schedule("0 0 0 31 12 * 2100").next_after(at("2100-12-31 00:00:00")),
        None
    );
    // A past year parses (it ran once) but fires no more.
    assert_eq!(
        schedule("0 0 0 1 1 * 1999").next_after(at("2025-01-01 00:00:00")),
        None
    );
}

#[test]
fn names_and_sunday() {
    assert_eq!(
        next("0 0 0 1 jan,Jul *", "2025-06-01 00:00:00", 2),
        ["2025-07-01 00:00:00", "2026-01-01 00:00:00"]
    );
    // 0, 7 and SUN are Sunday; a range may end on Sunday.
    for sunday in ["0", "7", "SUN", "sun"] {
        assert_eq!(
            next(&format!("0 0 0 * * {sunday}"), "2025-06-02 00:00:00", 1),
            ["2025-06-08 00:00:00"]
        );
    }
    assert_eq!(
        next("0 0 0 * * FRI-SUN", "2025-06-02 00:00:00", 4),
        [
            "2025-06-06 00:00:00",
            "2025-06-07 00:00:00",
            "2025-06-08 00:00:00",
            "2025-06-13 00:00:00"
        ]
    );
    same_times("0 0 0 * * 5-7", "0 0 0 * * FRI-SUN");
}

#[test]
fn full_names_as_spins_scheduler_takes_them() {
    same_times(
        "0 0 0 * January,july Monday-Friday",
        "0 0 0 * JAN,JUL MON-FRI",
    );
    same_times("0 0 0 * * Tues,THURS", "0 0 0 * * 2,4");
    message(
        "0 0 0 * TUES *",
        "month `TUES` is not a number or a month name (JAN-DEC)",
    );
}

#[test]
fn numbered_weekdays_are_noticed() {
    assert!(schedule("0 0 9 * * 1-5").numbered_weekdays());
    assert!(schedule("0 9 * * 0").numbered_weekdays());
    assert!(!schedule("0 0 9 * * MON-FRI").numbered_weekdays());
    assert!(!schedule("0 0 9 * * */2").numbered_weekdays());
    assert!(!schedule("0 0 9 1 * *").numbered_weekdays());
    assert!(!schedule("@weekly").numbered_weekdays());
}

#[test]
fn steps_ranges_and_lists() {
    assert_eq!(
        next("0 10-40/15 * * * *", "2025-06-01 10:00:00", 4),
        [
            "2025-06-01 10:10:00",
            "2025-06-01 10:25:00",
            "2025-06-01 10:40:00",
            "2025-06-01 11:10:00"
        ]
    );
    assert_eq!(
        next("0 0 */6 * * *", "2025-06-01 05:00:00", 3),
        [
            "2025-06-01 06:00:00",
            "2025-06-01 12:00:00",
            "2025-06-01 18:00:00"
        ]
    );
    assert_eq!(
        next("30 5,20-21 3 * * *", "2025-06-01 00:00:00", 4),
        [
            "2025-06-01 03:05:30",
            "2025-06-01 03:20:30",
            "2025-06-01 03:21:30",
            "2025-06-02 03:05:30"
        ]
    );
    // Whitespace between fields is any run of spaces or tabs.
    assert_eq!(
        schedule("  0\t0  12 * * *  ").expression(),
        "0\t0  12 * * *"
    );
}

#[test]
fn shorthands() {
    let from = "2025-06-04 10:20:30"; // a Wednesday
    assert_eq!(next("@hourly", from, 1), ["2025-06-04 11:00:00"]);
    assert_eq!(next("@daily", from, 1), ["2025-06-05 00:00:00"]);
    assert_eq!(next("@midnight", from, 1), ["2025-06-05 00:00:00"]);
    assert_eq!(next("@weekly", from, 1), ["2025-06-08 00:00:00"]);
    assert_eq!(next("@monthly", from, 1), ["2025-07-01 00:00:00"]);
    assert_eq!(next("@yearly", from, 1), ["2026-01-01 00:00:00"]);
    assert_eq!(next("@ANNUALLY", from, 1), ["2026-01-01 00:00:00"]);
    assert_eq!(schedule("@daily").to_string(), "@daily");
}

#[test]
fn the_end_of_time() {
    let s = schedule("* * * * * *");
    assert_eq!(s.next_after(u64::MAX), None);
    assert_eq!(
        s.next_after(at("9999-12-31 23:59:58")),
        Some(at("9999-12-31 23:59:59"))
    );
    assert_eq!(s.next_after(at("9999-12-31 23:59:59")), None);
}

#[test]
fn field_errors_name_the_field_the_value_and_the_range() {
    message("*/2 * * 32 * *", "day-of-month 32 is out of range 1-31");
    message("60 * * * * *", "second 60 is out of range 0-59");
    message("0 60 * * * *", "minute 60 is out of range 0-59");
    message("0 0 24 * * *", "hour 24 is out of range 0-23");
    message("0 0 0 0 * *", "day-of-month 0 is out of range 1-31");
    message("0 0 0 * 13 *", "month 13 is out of range 1-12");
    message("0 0 0 * * 8", "day-of-week 8 is out of range 0-7");
    message("0 0 0 * * * 1969", "year 1969 is out of range 1970-2100");
    message("0 0 0 * * * 2101", "year 2101 is out of range 1970-2100");
    message(
        "99999999999 * * * * *",
        "second 99999999999 is out of range 0-59",
    );
    // The crontab form names the fields by their place in it.
    message("60 * * * *", "minute 60 is out of range 0-59");
    message("* * 32 * *", "day-of-month 32 is out of range 1-31");
    message("* * * * 8", "day-of-week 8 is out of range 0-7");
    assert_eq!(
        error("* * * * 8").1.as_deref(),
        Some("0 and 7 are Sunday, 1 is Monday … 6 is Saturday")
    );
}

#[test]
fn syntax_errors() {
    message("0 0 1a * * *", "hour `1a` is not a number");
    message(
        "0 0 0 * JANUAR *",
        "month `JANUAR` is not a number or a month name (JAN-DEC)",
    );
    assert_eq!(
        error("0 0 0 * JANUAR *").1.as_deref(),
        Some("did you mean `JAN`?")
    );
    message(
        "0 0 0 * * MOONDAY",
        "day-of-week `MOONDAY` is not a number or a day name (SUN-SAT)",
    );
    assert_eq!(
        error("0 0 0 * * MOONDAY").1.as_deref(),
        Some("day-of-week values are 0-7 or SUN-SAT")
    );
    message("0 0 0 L * *", "day-of-month `L` is not a number");
    assert_eq!(
        error("0 0 0 * * 5#2").1.as_deref(),
        Some(
            "`L`, `W` and `#` (last day, nearest weekday, N-th weekday) are not supported; list \
             the days instead"
        )
    );
    message("0 0 MON * * *", "hour `MON` is not a number");
    message("0 1,,2 * * * *", "minute `1,,2` has an empty list item");
    message("0 5- * * * *", "minute has a range with a missing end");
    message(
        "0 0 20-5 * * *",
        "hour range `20-5` is backwards (20 is after 5)",
    );
    assert_eq!(
        error("0 0 20-5 * * *").1.as_deref(),
        Some("write the smaller value first; for a range that wraps, a list: `20-23,0-5`")
    );
    message(
        "0 0 0 * * SAT-MON",
        "day-of-week range `SAT-MON` is backwards (6 is after 1)",
    );
    assert_eq!(
        error("0 0 0 * * SAT-MON").1.as_deref(),
        Some("write the smaller value first; for a range that wraps, a list: `6-7,1-1`")
    );
    message(
        "*/0 * * * * *",
        "second step 0 in `*/0` is out of range 1-59",
    );
    message(
        "0 */60 * * * *",
        "minute step 60 in `*/60` is out of range 1-59",
    );
    message("0 0 */x * * *", "hour step `x` in `*/x` is not a number");
    message(
        "? * * * * *",
        "second `?` is only allowed in day-of-month and day-of-week",
    );
    message("0 0 0 ?/2 * *", "day-of-month `?/2`: `?` takes no step");
}

#[test]
fn shape_errors() {
    let (m, hint) = error("* * *");
    assert_eq!(
        m,
        "3 fields; expected 6 (second minute hour day-of-month month day-of-week, as Spin \
         writes it), 7 (the same and a year) or 5 (a crontab line: minute hour day-of-month \
         month day-of-week)"
    );
    assert!(hint.unwrap().contains("every 10 seconds"));
    assert!(
        error("* * * * * * * *")
            .0
            .starts_with("8 fields; expected 6")
    );
    message("", "the expression is empty");
    message("   ", "the expression is empty");
    message("@often", "unknown shorthand `@often`");
    assert_eq!(
        error("@often").1.as_deref(),
        Some(
            "the shorthands are @yearly (or @annually), @monthly, @weekly, @daily (or \
             @midnight), @hourly"
        )
    );
    message(
        "@reboot",
        "`@reboot` is not a schedule: a cron trigger runs at times of day",
    );
}

#[test]
fn schedules_that_never_fire() {
    message("0 0 0 30 2 *", "day-of-month 30 never falls in month FEB");
    message(
        "0 0 0 31 4,6 *",
        "day-of-month 31 never falls in month APR,JUN",
    );
    message(
        "0 0 0 30,31 FEB *",
        "day-of-month 30,31 never falls in month FEB",
    );
    message(
        "0 0 0 29 2 * 2025",
        "no date in its years matches the other fields",
    );
    // With a day of the week to match instead, it fires.
    assert_eq!(
        next("0 0 0 30 2 MON", "2025-06-01 00:00:00", 1),
        ["2026-02-02 00:00:00"]
    );
}

#[test]
fn display_names_the_expression() {
    let e = Schedule::parse("*/2 * * 32 * *").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cron expression \"*/2 * * 32 * *\": day-of-month 32 is out of range 1-31"
    );
}

/// Whether `s` fires at `t`, field by field: the oracle `next_after` is
/// checked against.
fn fires_at(s: &Schedule, t: u64) -> bool {
    let days = t / DAY;
    let (year, month, day) = super::calendar::date(days);
    let in_day = (t % DAY) as u32;
    s.second.contains(in_day % 60)
        && s.minute.contains(in_day / 60 % 60)
        && s.hour.contains(in_day / 3600)
        && s.month.contains(month)
        && s.year.is_none_or(|y| y.contains(year - FIRST_YEAR))
        && s.day_matches(year, month, day)
}

#[test]
fn next_after_agrees_with_a_minute_by_minute_scan() {
    let expressions = [
        "0 */7 */5 * * *",
        "0 0 0 13 * FRI",
        "0 0 12 */10 * MON",
        "0 30 23 28-31 * *",
        "0 0 0 29 2 * 2027-2029",
        "0 0 0 29 2 *",
        "0 15 6 1,15,31 JAN-MAR,OCT *",
        "0 0 9-17/4 * * MON-FRI",
        "0 0 0 * * SUN",
    ];
    let starts = [
        "2024-02-27 22:13:00",
        "2024-12-31 23:30:00",
        "2025-02-28 06:14:00",
        "2100-02-27 00:00:00",
    ];
    for expression in expressions {
        let s = schedule(expression);
        for start in starts {
            let from = at(start);
            let Some(got) = s.next_after(from) else {
                assert!(
                    expression.contains("2027"),
                    "`{expression}` never fires after {start}"
                );
                continue;
            };
            assert!(
                fires_at(&s, got),
                "`{expression}`: {} does not match",
                format_utc(got)
            );
            // Nothing matches in between (a scan of at most ~5 years).
            let mut t = from + 60 - from % 60;
            while t < got {
                assert!(
                    !fires_at(&s, t),
                    "`{expression}` after {start}: next_after says {}, but {} matches",
                    format_utc(got),
                    format_utc(t)
                );
                t += 60;
            }
        }
    }
}
