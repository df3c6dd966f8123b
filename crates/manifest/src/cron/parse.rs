//! Reading a cron expression's fields into sets of values, with errors that
//! name the field, the bad value and what it may be.

use super::{CronError, Field, Set};

/// Month names, JAN = 1.
pub(super) const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Month names in full, JANUARY = 1.
const MONTH_NAMES: [&str; 12] = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
];

/// Day names, SUN = 0.
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Day names in full, SUNDAY = 0.
const WEEKDAY_NAMES: [&str; 7] = [
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
];

/// The number a month or day name stands for: its three-letter form, its
/// full English name or (days) `TUES`/`THURS`, in any case.
fn name_value(field: Field, upper: &str) -> Option<u32> {
    let (short, long, first): (&[&str], &[&str], u32) = match field {
        Field::Month => (&MONTHS, &MONTH_NAMES, 1),
        Field::DayOfWeek => (&WEEKDAYS, &WEEKDAY_NAMES, 0),
        _ => return None,
    };
    let alias = match upper {
        "TUES" => Some(2),
        "THURS" => Some(4),
        _ => None,
    };
    let found = short
        .iter()
        .position(|n| *n == upper)
        .or_else(|| long.iter().position(|n| *n == upper))
        .map(|i| i as u32 + first);
    found.or(alias.filter(|_| field == Field::DayOfWeek))
}

/// What a field's text says: its values, and whether it starts with `*` or
/// `?` (which, for the two day fields, makes it "unrestricted" in the
/// day-of-month/day-of-week rule, as in Vixie cron).
pub(super) struct Parsed {
    pub set: Set,
    pub star: bool,
    /// Whether a value (not a step) is written as a number.
    pub numeric: bool,
}

/// The shorthand `@name` stands for, as a 6-field expression.
pub(super) fn shorthand(name: &str) -> Result<&'static str, (String, String)> {
    const KNOWN: &str = "@yearly (or @annually), @monthly, @weekly, @daily (or @midnight), @hourly";
    Ok(match name.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * SUN",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        "@reboot" => {
            return Err((
                "`@reboot` is not a schedule: a cron trigger runs at times of day".to_string(),
                format!("use a schedule, e.g. one of {KNOWN}"),
            ));
        }
        _ => {
            return Err((
                format!("unknown shorthand `{name}`"),
                format!("the shorthands are {KNOWN}"),
            ));
        }
    })
}

/// Reads one field.
pub(super) fn field(field: Field, text: &str) -> Result<Parsed, CronError> {
    let mut set = Set::default();
    let mut star = false;
    let mut numeric = false;
    for (i, item) in text.split(',').enumerate() {
        if item.is_empty() {
            return Err(CronError::new(format!(
                "{} `{text}` has an empty list item",
                field.name()
            ))
            .hint("separate values with single commas, e.g. `1,15,30`"));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(parse_step(field, item, step)?)),
            None => (item, None),
        };
        numeric |= base.bytes().any(|b| b.is_ascii_digit());
        let (min, max) = field.span();
        let (low, high) = if base == "*" || base == "?" {
            if base == "?" && !field.is_day() {
                return Err(CronError::new(format!(
                    "{} `?` is only allowed in day-of-month and day-of-week",
                    field.name()
                ))
                .hint("write `*` for every value"));
            }
            if base == "?" && step.is_some() {
                return Err(CronError::new(format!(
                    "{} `{item}`: `?` takes no step",
                    field.name()
                ))
                .hint("write `*/N` for every N-th value"));
            }
            star |= i == 0;
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            let low = value(field, a)?;
            let mut high = value(field, b)?;
            // `FRI-SUN`, `5-0`: Sunday ends a range as 7.
            if field == Field::DayOfWeek && high == 0 && low > 0 {
                high = 7;
            }
            if low > high {
                // Sunday is 7 at the top of a day-of-week range.
                let (top, bottom) = match field {
                    Field::DayOfWeek => (7, 1),
                    _ => (max, min),
                };
                return Err(CronError::new(format!(
                    "{} range `{base}` is backwards ({low} is after {high})",
                    field.name()
                ))
                .hint(format!(
                    "write the smaller value first; for a range that wraps, a list: \
                     `{low}-{top},{bottom}-{high}`"
                )));
            }
            (low, high)
        } else {
            let v = value(field, base)?;
            // `a/n`: from `a` to the end of the range, every `n`.
            (v, if step.is_some() { max.max(v) } else { v })
        };
        let step = step.unwrap_or(1);
        let mut v = low;
        while v <= high {
            set.insert(field.normalize(v));
            v += step;
        }
    }
    Ok(Parsed { set, star, numeric })
}

/// A step (`*/N`): at least 1, at most the width of the field's range.
fn parse_step(field: Field, item: &str, step: &str) -> Result<u32, CronError> {
    let (min, max) = field.span();
    let widest = max - min;
    let n: u32 = match step.parse() {
        Ok(n) => n,
        Err(_) if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) => u32::MAX,
        Err(_) => {
            return Err(CronError::new(format!(
                "{} step `{step}` in `{item}` is not a number",
                field.name()
            ))
            .hint(format!(
                "a step is a whole number from 1 to {widest}, e.g. `*/5`"
            )));
        }
    };
    if n == 0 || n > widest {
        return Err(CronError::new(format!(
            "{} step {n} in `{item}` is out of range 1-{widest}",
            field.name()
        ))
        .hint(match n {
            0 => "a step of 0 never moves: use `*` for every value".to_string(),
            _ => format!(
                "a {} step larger than {widest} only ever gives the first value: write that value",
                field.name()
            ),
        }));
    }
    Ok(n)
}

/// One value: a number in the field's range, or (months, days of the week)
/// a three-letter English name.
fn value(field: Field, text: &str) -> Result<u32, CronError> {
    let (min, max) = field.bounds();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let v = text.parse::<u32>().unwrap_or(u32::MAX);
        if v < min || v > max {
            let shown = if v == u32::MAX {
                text.to_string()
            } else {
                v.to_string()
            };
            let mut error = CronError::new(format!(
                "{} {shown} is out of range {min}-{max}",
                field.name()
            ));
            error = match field {
                Field::DayOfWeek => error.hint("0 and 7 are Sunday, 1 is Monday … 6 is Saturday"),
                Field::Month => error.hint("months are 1-12 (or JAN-DEC)"),
                Field::Year => error.hint("leave the year field out for every year"),
                _ => error,
            };
            return Err(error);
        }
        return Ok(v);
    }
    let upper = text.to_ascii_uppercase();
    if let Some(v) = name_value(field, &upper) {
        return Ok(v);
    }
    let names: &[&str] = match field {
        Field::Month => &MONTHS,
        Field::DayOfWeek => &WEEKDAYS,
        _ => &[],
    };
    let what = match field {
        Field::Month => "a number or a month name (JAN-DEC)",
        Field::DayOfWeek => "a number or a day name (SUN-SAT)",
        _ => "a number",
    };
    let mut error = CronError::new(format!("{} `{text}` is not {what}", field.name()));
    if text.is_empty() {
        error = CronError::new(format!("{} has a range with a missing end", field.name()))
            .hint(format!("write both ends, e.g. `{min}-{max}`"));
    } else if field.is_day() && (upper.contains('L') || upper.contains('W') || upper.contains('#'))
    {
        error = error.hint(
            "`L`, `W` and `#` (last day, nearest weekday, N-th weekday) are not supported; \
             list the days instead",
        );
    } else if let Some(name) = names.iter().find(|n| upper.starts_with(**n)) {
        error = error.hint(format!("did you mean `{name}`?"));
    } else {
        let named = match field {
            Field::Month => " or JAN-DEC",
            Field::DayOfWeek => " or SUN-SAT",
            _ => "",
        };
        error = error.hint(format!("{} values are {min}-{max}{named}", field.name()));
    }
    Err(error)
}
