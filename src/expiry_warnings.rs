//! When keys are warned about before they expire (`--key-expiry-warnings`):
//! a list of durations such as `7d,1d` or `12h,30m,45s`.

use std::fmt;
use std::str::FromStr;

use chrono::Duration;

/// The thresholds, distinct, largest first. Each key gets one `KEY_EXPIRING`
/// event per threshold it crosses while ACTIVE (see
/// `Store::record_expiry_warnings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryWarnings(Vec<Duration>);

/// The default: a week and a day before, as GitLab warns.
pub const DEFAULT: &str = "7d,1d";

/// Longest threshold accepted: a year.
const MAX_SECONDS: i64 = 366 * 24 * 3600;

impl ExpiryWarnings {
    /// Largest first.
    pub fn thresholds(&self) -> &[Duration] {
        &self.0
    }

    /// The largest threshold: within it a key counts as expiring soon.
    pub fn first(&self) -> Option<Duration> {
        self.0.first().copied()
    }
}

impl Default for ExpiryWarnings {
    fn default() -> Self {
        DEFAULT.parse().unwrap_or(Self(Vec::new()))
    }
}

impl FromStr for ExpiryWarnings {
    type Err = String;

    /// `7d,1d`, `12h, 30m`, `45s`; `none` (or nothing) for no warnings.
    fn from_str(list: &str) -> Result<Self, String> {
        let list = list.trim();
        if list.is_empty() || list.eq_ignore_ascii_case("none") {
            return Ok(Self(Vec::new()));
        }
        let mut thresholds = list
            .split(',')
            .map(|item| parse_duration(item.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        thresholds.sort_unstable_by(|a, b| b.cmp(a));
        thresholds.dedup();
        Ok(Self(thresholds))
    }
}

impl fmt::Display for ExpiryWarnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|d| format_duration(*d)).collect();
        f.write_str(&items.join(","))
    }
}

/// `7d`, `12h`, `30m`, `45s`: a positive whole number and a unit.
pub fn parse_duration(item: &str) -> Result<Duration, String> {
    let split = item.len().saturating_sub(1);
    let (number, unit) = (
        item.get(..split).unwrap_or(""),
        item.get(split..).unwrap_or(""),
    );
    let unit_seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "`{item}`: a duration is a number and a unit, d, h, m or s (such as 7d or 12h)"
            ));
        }
    };
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{item}`: a duration is a whole number then d, h, m or s"))?;
    let seconds = number.saturating_mul(unit_seconds);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("`{item}`: must be from 1s to 366d"));
    }
    Ok(Duration::seconds(seconds))
}

/// The shortest form of `duration` in one unit (`1d`, `36h`, `90s`).
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_durations_parse_largest_first_and_bad_ones_say_why() {
        let ok: &[(&str, &str)] = &[
            ("7d,1d", "7d,1d"),
            ("1d,7d", "7d,1d"),
            ("12h, 30m ,45s", "12h,30m,45s"),
            ("24h,1d", "1d"),
            ("90m", "90m"),
            ("none", ""),
            ("", ""),
        ];
        for (list, shown) in ok {
            let parsed: ExpiryWarnings = list.parse().unwrap_or_else(|e| panic!("{list}: {e}"));
            assert_eq!(parsed.to_string(), *shown, "{list}");
        }
        for bad in ["7", "d", "7w", "0d", "-1d", "1.5d", "367d", "7d,,1d", "x7d"] {
            assert!(
                bad.parse::<ExpiryWarnings>().is_err(),
                "{bad} should be refused"
            );
        }
        assert_eq!(ExpiryWarnings::default().to_string(), "7d,1d");
        assert_eq!(ExpiryWarnings::default().first(), Some(Duration::days(7)));
    }
}
