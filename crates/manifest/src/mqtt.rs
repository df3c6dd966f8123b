//! MQTT topic filters and quality-of-service levels, as `[[trigger.mqtt]]`
//! (Spin's MQTT trigger plugin's syntax) writes them: checked when the
//! manifest loads, and again by the trigger for a templated topic once its
//! variables are expanded.
//!
//! ```
//! use skiff_manifest::mqtt::{Qos, check_topic_filter};
//!
//! assert!(check_topic_filter("sensors/+/temperature").is_ok());
//! assert!(check_topic_filter("sensors/#").is_ok());
//! assert!(check_topic_filter("sensors/#/x").is_err());
//! assert_eq!("1".parse::<Qos>(), Ok(Qos::AtLeastOnce));
//! ```

use std::fmt;
use std::str::FromStr;

/// The longest topic MQTT can carry (its length is a 16-bit prefix).
const MAX_TOPIC: usize = 65_535;

/// The quality of service of an MQTT subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qos {
    /// QoS 0: delivered at most once, never acknowledged.
    AtMostOnce,
    /// QoS 1: delivered at least once.
    AtLeastOnce,
    /// QoS 2: delivered exactly once.
    ExactlyOnce,
}

impl Qos {
    /// The level's number: 0, 1 or 2.
    pub fn level(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        }
    }

    /// The level numbered `n`, if there is one.
    pub fn from_level(n: i64) -> Option<Qos> {
        match n {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            2 => Some(Qos::ExactlyOnce),
            _ => None,
        }
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.level())
    }
}

impl FromStr for Qos {
    type Err = String;

    /// `"0"`, `"1"` or `"2"` (the plugin writes levels as strings).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i64>()
            .ok()
            .and_then(Qos::from_level)
            .ok_or_else(|| format!("qos {s:?} is not 0, 1 or 2"))
    }
}

/// Checks an MQTT topic filter (MQTT 3.1.1, section 4.7): not empty, no NUL,
/// `+` only as a whole level, `#` only as the whole last level. The error
/// says what is wrong.
pub fn check_topic_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("a topic must not be empty".into());
    }
    if filter.len() > MAX_TOPIC {
        return Err(format!(
            "topic of {} bytes is longer than MQTT's limit of {MAX_TOPIC}",
            filter.len()
        ));
    }
    if filter.contains('\0') {
        return Err(format!("topic {filter:?} contains a NUL character"));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "topic {filter:?}: `#` must be a whole level and the last one (`sensors/#`)"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "topic {filter:?}: `+` must be a whole level (`sensors/+/temperature`)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        for ok in [
            "a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "a//b", "$SYS/#",
        ] {
            assert_eq!(check_topic_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "#/a", "a+/b", "a/b+", "a\0b"] {
            assert!(check_topic_filter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn levels() {
        assert_eq!("2".parse::<Qos>(), Ok(Qos::ExactlyOnce));
        assert_eq!(" 0 ".parse::<Qos>(), Ok(Qos::AtMostOnce));
        assert!("3".parse::<Qos>().is_err());
        assert!("one".parse::<Qos>().is_err());
        assert_eq!(Qos::AtLeastOnce.to_string(), "1");
    }
}
