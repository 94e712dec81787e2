//! Human units for the cache commands: durations (`30d`, `12h`, `90m`), sizes (`10G`, `500M`,
//! `1.5GiB`) and their rendering (`1.2 GiB`, `3 days ago`).

use std::fmt;

/// Why a duration or size could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError(pub String);

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnitError {}

/// Splits `1.5GiB` into (`1.5`, `GiB`); the number may have one decimal point.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    Some((value, unit.trim()))
}

/// Parses `30d`, `12h`, `90m`, `45s`, `2w` or a sum of them (`1d12h`) into seconds.
pub fn parse_duration(text: &str) -> Result<u64, UnitError> {
    let bad = || {
        UnitError(format!(
            "`{text}` is not a duration; expected a number and a unit: s, m, h, d or w \
             (for example `30d`, `12h`, `90m`, `1d12h`)"
        ))
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (value, unit) = split_number(&rest[..digits + unit_len]).ok_or_else(bad)?;
        let scale = match unit {
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 7.0 * 86400.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[digits + unit_len..];
    }
    Ok(total.round() as u64)
}

/// Parses a size: a plain byte count, `K`/`M`/`G`/`T` or `KiB`/`MiB`/`GiB`/`TiB` (powers of
/// 1024, as `du -h` prints them), or `KB`/`MB`/`GB`/`TB` (powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || {
        UnitError(format!(
            "`{text}` is not a size; expected a number with an optional unit \
             (for example `10G`, `500M`, `1.5GiB`, `2GB`)"
        ))
    };
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let scale: f64 = match unit {
        "" | "B" | "b" => 1.0,
        "K" | "k" | "KiB" | "Ki" => 1024.0,
        "M" | "MiB" | "Mi" => 1024f64.powi(2),
        "G" | "GiB" | "Gi" => 1024f64.powi(3),
        "T" | "TiB" | "Ti" => 1024f64.powi(4),
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return Err(bad()),
    };
    Ok((value * scale).round() as u64)
}

/// `0 B`, `512 B`, `4.0 KiB`, `1.2 GiB`: one decimal from KiB up.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A signed size change: `+35.0 MiB`, `-4.0 KiB`, `+0 B`.
pub fn format_delta(bytes: i64) -> String {
    let sign = if bytes < 0 { '-' } else { '+' };
    format!("{sign}{}", format_bytes(bytes.unsigned_abs()))
}

/// How long ago, coarsely: `just now`, `5 minutes ago`, `3 hours ago`, `12 days ago`.
pub fn format_age(seconds: i64) -> String {
    if seconds < 0 {
        return "in the future".to_string();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        0..60 => "just now".to_string(),
        60..3600 => plural(seconds / 60, "minute"),
        3600..86400 => plural(seconds / 3600, "hour"),
        _ => plural(seconds / 86400, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("90m"), Ok(90 * 60));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(14 * 86400));
        assert_eq!(parse_duration("1d12h"), Ok(86400 + 12 * 3600));
        assert_eq!(parse_duration("1.5h"), Ok(5400));
        for bad in ["", "30", "d", "30x", "-3d", "3d-", ".5d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1k"), Ok(1024));
        for bad in ["", "G", "10X", "1.2.3G", "-1G"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn rendering() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(35 << 20), "35.0 MiB");
        assert_eq!(format_bytes((12 << 30) / 10), "1.2 GiB");
        assert_eq!(format_delta(-(4 << 10)), "-4.0 KiB");
        assert_eq!(format_delta(5 << 20), "+5.0 MiB");
        assert_eq!(format_age(30), "just now");
        assert_eq!(format_age(120), "2 minutes ago");
        assert_eq!(format_age(3600), "1 hour ago");
        assert_eq!(format_age(45 * 86400), "45 days ago");
    }
}
