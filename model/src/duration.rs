//! Go-style duration strings (`150ms`, `1.5s`, `1h30m`, `72h`), the form Jaeger's flags and query
//! parameters (`minDuration`, `--query.max-clock-skew-adjustment`) use.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    #[error("empty duration")]
    Empty,
    #[error(
        "invalid duration {0:?}: expected a number followed by a unit (ns, us, µs, ms, s, m, h), e.g. 150ms or 1h30m"
    )]
    Invalid(String),
    #[error("invalid duration {0:?}: negative durations are not allowed")]
    Negative(String),
    #[error("invalid duration {0:?}: too large")]
    Overflow(String),
}

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal numbers with optional
/// fraction and a unit each. `0` alone is accepted; negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationParseError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationParseError::Empty);
    }
    let invalid = || DurationParseError::Invalid(text.to_owned());
    let body = match trimmed.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.' || c.is_ascii_alphabetic() || c == 'µ') => rest,
        Some(_) => return Err(DurationParseError::Negative(text.to_owned())),
        None => trimmed.strip_prefix('+').unwrap_or(trimmed),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total_nanos: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        if number_len == 0 {
            return Err(invalid());
        }
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
        let mut value = whole.checked_mul(unit_nanos).ok_or_else(|| DurationParseError::Overflow(text.to_owned()))?;
        let mut scale = unit_nanos;
        for digit in fraction.chars() {
            let digit = digit.to_digit(10).ok_or_else(invalid)? as u128;
            scale /= 10;
            value += digit * scale;
        }
        total_nanos = total_nanos.checked_add(value).ok_or_else(|| DurationParseError::Overflow(text.to_owned()))?;
        rest = next;
    }
    let nanos = u64::try_from(total_nanos).map_err(|_| DurationParseError::Overflow(text.to_owned()))?;
    Ok(Duration::from_nanos(nanos))
}

/// Formats like Go's `Duration.String()`: `72h0m0s`, `1.5s`, `150ms`, `0s`.
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let second_nanos = nanos % 60_000_000_000;
    let seconds = fraction(second_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_go_unit_and_fractions() {
        assert_eq!(parse_go_duration("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_go_duration("1.2s").unwrap(), Duration::from_millis(1200));
        assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("72h").unwrap(), Duration::from_secs(72 * 3600));
        assert_eq!(parse_go_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_go_duration("10µs").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_go_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration(".5s").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn refuses_missing_units_negative_and_garbage() {
        assert!(matches!(parse_go_duration("100"), Err(DurationParseError::Invalid(_))));
        assert!(matches!(parse_go_duration("-1s"), Err(DurationParseError::Negative(_))));
        assert!(matches!(parse_go_duration("1x"), Err(DurationParseError::Invalid(_))));
        assert!(matches!(parse_go_duration(""), Err(DurationParseError::Empty)));
        assert!(matches!(parse_go_duration("s"), Err(DurationParseError::Invalid(_))));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(72 * 3600)), "72h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(150)), "150ms");
        assert_eq!(format_go_duration(Duration::from_secs(61)), "1m1s");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }
}
