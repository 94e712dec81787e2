//! The build date: `SOURCE_DATE_EPOCH` (wins, as in melange), else `--build-date` (RFC 3339),
//! else 0.

use crate::diag::Diagnostic;

/// Resolve the build date in Unix seconds.
pub fn source_date_epoch(env: Option<&str>, flag: Option<&str>) -> Result<u64, Diagnostic> {
    if let Some(value) = env.map(str::trim).filter(|v| !v.is_empty()) {
        return value.parse::<u64>().map_err(|_| {
            Diagnostic::new(
                "SOURCE_DATE_EPOCH",
                format!("`{value}` is not a whole number of seconds"),
            )
            .hint("unset it, or set it to Unix seconds such as 1700000000")
        });
    }
    match flag {
        Some(text) => parse_rfc3339(text).ok_or_else(|| {
            Diagnostic::new("--build-date", format!("`{text}` is not an RFC 3339 date"))
                .hint("write it like 2024-05-01T12:00:00Z")
        }),
        None => Ok(0),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix seconds (dates before 1970 are refused).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:30:05Z"), Some(1_709_209_805));
        assert_eq!(
            parse_rfc3339("2024-02-29T14:30:05+02:00"),
            Some(1_709_209_805)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:05.123Z"),
            Some(1_709_209_805)
        );
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn env_wins_over_flag() {
        assert_eq!(
            source_date_epoch(Some("42"), Some("2024-01-01T00:00:00Z")).unwrap(),
            42
        );
        assert_eq!(source_date_epoch(Some(""), None).unwrap(), 0);
        assert!(source_date_epoch(Some("soon"), None).is_err());
        assert_eq!(
            source_date_epoch(None, Some("1970-01-02T00:00:00Z")).unwrap(),
            86_400
        );
    }
}
