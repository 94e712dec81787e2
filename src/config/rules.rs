//! Small value rules melange applies to single fields: package names, integers the way Go's
//! `strconv.Atoi` reads them, Go `time.Duration` strings, CPE fields and file capabilities.
//! Pure predicates, no positions; [`super::check`] turns their answers into diagnostics.

/// The package name pattern of melange's `validate` (`pkg/config/config.go: packageNameRegex`).
pub const PACKAGE_NAME_PATTERN: &str = r"^[a-zA-Z\d][a-zA-Z\d+_.-]*$";

/// The CPE field pattern of melange's `validateCPEField`.
pub const CPE_FIELD_PATTERN: &str = r"^[a-z\d][a-z\d+_.-]*$";

/// Capabilities melange lets `setcap` add (`pkg/config/config.go: validCapabilities`).
pub const ALLOWED_CAPABILITIES: [&str; 5] = [
    "cap_net_bind_service",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_sys_admin",
];

/// CPE `part` values melange accepts (`allowedCPEParts`).
pub const ALLOWED_CPE_PARTS: [&str; 2] = ["a", "o"];

/// The apk version grammar melange checks before building (`BuildPackage` calls apko's
/// `apk.ParseVersion`, `pkg/apk/apk/version.go: versionRegex`). Not part of [`super::check`]:
/// melange parses such files fine (two of its own examples have versions like `v0.0.1`), and
/// only `build` refuses them, so the build stage should call [`is_apk_version`].
pub const APK_VERSION_PATTERN: &str = r"^([0-9]+)((\.[0-9]+)*)([a-z]?)((_alpha|_beta|_pre|_rc)([0-9]*))?((_cvs|_svn|_git|_hg|_p)([0-9]*))?((-r)([0-9]+))?$";

/// Whether `version` is a valid apk version: it matches [`APK_VERSION_PATTERN`] and each
/// number fits in 64 bits (apko reads them with `strconv.Atoi`).
pub fn is_apk_version(version: &str) -> bool {
    static PATTERN: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(APK_VERSION_PATTERN).expect("valid pattern"));
    PATTERN.is_match(version)
        && version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .all(is_go_int)
}

/// Whether `name` matches [`PACKAGE_NAME_PATTERN`] (ASCII only, as in Go's RE2 `\d`).
pub fn is_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-'))
}

/// Whether `value` matches [`CPE_FIELD_PATTERN`].
pub fn is_cpe_field(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    chars
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '_' | '.' | '-'))
}

/// Whether Go's `strconv.Atoi` accepts `text`: an optional sign and decimal digits that fit
/// in 64 bits (Rust's `i64` parser has the same grammar).
pub fn is_go_int(text: &str) -> bool {
    text.parse::<i64>().is_ok()
}

/// Whether Go's `time.ParseDuration` accepts `text`: `0`, or an optionally signed sequence of
/// decimal numbers each followed by a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`),
/// such as `90m`, `1.5h` or `1h30m`.
pub fn is_go_duration(text: &str) -> bool {
    parse_go_duration(text).is_some()
}

/// Parse a Go duration (see [`is_go_duration`]). Negative durations parse to zero, which every
/// caller treats as "no limit", as melange does for a zero timeout.
pub fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let negative = text.starts_with('-');
    let s = text.strip_prefix(['+', '-']).unwrap_or(text);
    if s == "0" {
        return Some(std::time::Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    if negative {
        return Some(std::time::Duration::ZERO);
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// Whether `flags` is a valid capability flag set for `setcap`: an optional `+` or `=` (as in
/// `setcap cap_net_raw=ep`) and one or more of `e` (effective), `p` (permitted), `i`
/// (inheritable). melange itself skips any other character (`parseCapability`), so a typo
/// silently sets fewer flags; melwrap refuses it.
pub fn is_capability_flags(flags: &str) -> bool {
    let letters = flags.strip_prefix(['+', '=']).unwrap_or(flags);
    !letters.is_empty() && letters.chars().all(|c| matches!(c, 'e' | 'p' | 'i'))
}

/// The short reason a regex does not compile (the `error: ...` line of the regex crate's
/// multi-line message).
pub fn regex_problem(pattern: &str) -> Option<String> {
    let err = regex::Regex::new(pattern).err()?;
    let text = err.to_string();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or(""));
    Some(line.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_to_their_length() {
        use std::time::Duration;
        assert_eq!(parse_go_duration("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("3600"), None);
        assert_eq!(parse_go_duration("5x"), None);
    }

    #[test]
    fn package_names() {
        for ok in ["a", "py3-foo", "libstdc++", "foo_bar.1", "0ad"] {
            assert!(is_package_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "foo bar", "foo/bar", "fö", "a:b"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn apk_versions() {
        for ok in [
            "1",
            "1.2.3",
            "1.2.3a",
            "1.0_rc1",
            "2.0_alpha",
            "0_git20240101",
            "1.2_p3",
            "1.2-r4",
            "1.2.3_beta2_p1",
        ] {
            assert!(is_apk_version(ok), "{ok}");
        }
        for bad in [
            "",
            "v1.2",
            "1.2-beta",
            "1..2",
            "1.2.3ab",
            "1.2_dev",
            "1.2.",
            "99999999999999999999",
        ] {
            assert!(!is_apk_version(bad), "{bad}");
        }
    }

    #[test]
    fn cpe_fields() {
        assert!(is_cpe_field("openssl"));
        assert!(is_cpe_field("node.js"));
        assert!(!is_cpe_field("OpenSSL"));
        assert!(!is_cpe_field("*"));
        assert!(!is_cpe_field("_x"));
    }

    #[test]
    fn go_ints() {
        for ok in ["0", "100", "-5", "+7", "9223372036854775807"] {
            assert!(is_go_int(ok), "{ok}");
        }
        for bad in [
            "",
            "1.5",
            "1_000",
            " 1",
            "0x10",
            "9223372036854775808",
            "abc",
        ] {
            assert!(!is_go_int(bad), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        for ok in [
            "0", "90m", "2h", "1h30m", "1.5h", ".5s", "5.s", "100ms", "3µs", "-1m", "+2s",
        ] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in [
            "", "3600", "1", "h", "1x", "1.2.3s", ".s", "1h 30m", "1d", "00",
        ] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn capability_flags() {
        assert!(is_capability_flags("+ep"));
        assert!(is_capability_flags("eip"));
        assert!(is_capability_flags("=ep"));
        assert!(!is_capability_flags("+"));
        assert!(!is_capability_flags("+ex"));
        assert!(!is_capability_flags(""));
    }

    #[test]
    fn regex_problems_are_one_line() {
        assert_eq!(regex_problem("^(\\d+"), Some("unclosed group".to_string()));
        assert_eq!(regex_problem("^\\d+$"), None);
    }
}
