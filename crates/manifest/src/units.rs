//! Sizes (`"64MiB"`) and durations (`"5s"`) as written in manifests and CLI flags.

use std::time::Duration;

/// The accepted size units, lower-cased, with their value in bytes.
const SIZE_UNITS: &[(&str, u128)] = &[
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

/// The accepted duration units with their value in nanoseconds.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a byte size: a number, optionally with a fraction, then an optional unit
/// (case-insensitive `B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`, `TB`, `TiB`; none means bytes).
///
/// ```
/// use skiff_manifest::parse_size;
/// assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
/// assert_eq!(parse_size("10MB"), Ok(10_000_000));
/// assert_eq!(parse_size("1.5KiB"), Ok(1536));
/// assert_eq!(parse_size("100"), Ok(100));
/// assert!(parse_size("64 potatoes").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    const FORMAT: &str = "expected a size like \"64MiB\", \"10MB\" or \"512KiB\" (units: B, KB, KiB, MB, MiB, GB, GiB)";
    let (number, unit) = split_number(s).ok_or_else(|| format!("invalid size `{s}`: {FORMAT}"))?;
    let unit_lower = unit.to_ascii_lowercase();
    let &(_, scale) = SIZE_UNITS
        .iter()
        .find(|(name, _)| *name == unit_lower)
        .ok_or_else(|| format!("invalid size `{s}`: unknown unit `{unit}`; {FORMAT}"))?;
    let bytes = number
        .scaled(scale)
        .ok_or_else(|| format!("invalid size `{s}`: too large"))?;
    if !bytes.exact {
        return Err(format!("invalid size `{s}`: not a whole number of bytes"));
    }
    u64::try_from(bytes.value).map_err(|_| format!("invalid size `{s}`: too large"))
}

/// Parses a duration: a number, optionally with a fraction, then a unit
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`).
///
/// ```
/// use std::time::Duration;
/// use skiff_manifest::parse_duration;
/// assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
/// assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
/// assert!(parse_duration("5").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const FORMAT: &str = "expected a duration like \"5s\", \"500ms\", \"1m\" or \"2.5s\" (units: ns, us, ms, s, m, h)";
    let (number, unit) =
        split_number(s).ok_or_else(|| format!("invalid duration `{s}`: {FORMAT}"))?;
    if unit.is_empty() {
        return Err(format!("invalid duration `{s}`: missing unit; {FORMAT}"));
    }
    let &(_, scale) = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(|| format!("invalid duration `{s}`: unknown unit `{unit}`; {FORMAT}"))?;
    let nanos = number
        .scaled(scale)
        .ok_or_else(|| format!("invalid duration `{s}`: too long"))?
        .value;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| format!("invalid duration `{s}`: too long"))?;
    // The remainder is below 10^9, so it fits.
    let sub = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// A non-negative decimal number kept exact: `whole + fraction / 10^fraction_digits`.
struct Decimal {
    whole: u128,
    fraction: u128,
    fraction_digits: u32,
}

struct Scaled {
    value: u128,
    /// False when the fraction did not scale to a whole number (the value is rounded down).
    exact: bool,
}

impl Decimal {
    fn scaled(&self, scale: u128) -> Option<Scaled> {
        let denominator = 10u128.checked_pow(self.fraction_digits)?;
        let fraction = self.fraction.checked_mul(scale)?;
        let value = self
            .whole
            .checked_mul(scale)?
            .checked_add(fraction / denominator)?;
        Some(Scaled {
            value,
            exact: fraction % denominator == 0,
        })
    }
}

/// Splits `" 2.5 GiB "` into the number and the unit (`"GiB"`); `None` if there is no number.
fn split_number(s: &str) -> Option<(Decimal, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(end);
    let digits = digits.replace('_', "");
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits.as_str(), ""),
    };
    if whole.is_empty() || fraction.contains('.') || (digits.contains('.') && fraction.is_empty()) {
        return None;
    }
    // Digits beyond nanosecond/byte precision cannot matter; keep the arithmetic small.
    let fraction = &fraction[..fraction.len().min(18)];
    Some((
        Decimal {
            whole: whole.parse().ok()?,
            fraction: if fraction.is_empty() {
                0
            } else {
                fraction.parse().ok()?
            },
            fraction_digits: fraction.len() as u32,
        },
        unit.trim(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1gb"), Ok(1_000_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("1_024"), Ok(1024));
    }

    #[test]
    fn bad_sizes_say_the_format() {
        let e = parse_size("64 potatoes").unwrap_err();
        assert_eq!(
            e,
            "invalid size `64 potatoes`: unknown unit `potatoes`; expected a size like \"64MiB\", \"10MB\" or \"512KiB\" (units: B, KB, KiB, MB, MiB, GB, GiB)"
        );
        assert!(
            parse_size("")
                .unwrap_err()
                .starts_with("invalid size ``: expected a size like")
        );
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("1.2.3MiB").is_err());
        assert!(parse_size("1.MiB").is_err());
        assert_eq!(
            parse_size("0.3B").unwrap_err(),
            "invalid size `0.3B`: not a whole number of bytes"
        );
        assert_eq!(
            parse_size("99999999999999999999TiB").unwrap_err(),
            "invalid size `99999999999999999999TiB`: too large"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("100µs"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 0.001s "), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn bad_durations_say_the_format() {
        assert_eq!(
            parse_duration("5").unwrap_err(),
            "invalid duration `5`: missing unit; expected a duration like \"5s\", \"500ms\", \"1m\" or \"2.5s\" (units: ns, us, ms, s, m, h)"
        );
        assert!(
            parse_duration("5 fortnights")
                .unwrap_err()
                .contains("unknown unit `fortnights`")
        );
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5S").is_err());
    }
}
