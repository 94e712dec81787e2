//! The environment a step sees: melange's layers in melange's order (semantics 3.8), and the
//! TLS variables of the `--ca-bundle` option. Nothing comes from the host.
//!
//! melange passes the layers as successive `--setenv` flags and lets the last one win
//! (`pkg/container/bubblewrap_runner.go`); melwrap resolves them first, so each variable is set
//! once and `--dry-run` shows the value the step really gets.

use std::collections::BTreeMap;

/// The `PATH` every step starts with; `environment.environment` cannot change it, only a
/// step's own `environment:` can (melange issue #1956).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";

/// Where a `--ca-bundle` file appears in the guest: the path Debian, Alpine and Wolfi use.
pub const CA_GUEST_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Variables that point TLS clients at a CA bundle: OpenSSL, Go and uv (`SSL_CERT_FILE`),
/// Python requests, pip, curl, git, Node and cargo.
pub const CA_VARIABLES: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "CARGO_HTTP_CAINFO",
];

/// The environment variable that names a CA bundle when `--ca-bundle` is not given.
pub const CA_BUNDLE_ENV: &str = "MELWRAP_CA_BUNDLE";

/// The CA variables, each set to [`CA_GUEST_PATH`], for a build given a CA bundle. They are
/// defaults: a config that sets one of them wins (see [`step_environment`]).
pub fn ca_bundle_env() -> Vec<(String, String)> {
    CA_VARIABLES
        .iter()
        .map(|k| (k.to_string(), CA_GUEST_PATH.to_string()))
        .collect()
}

/// One step's final environment, each variable once, in `--setenv` order. Later layers win:
///
/// 1. `defaults` (melwrap's own, such as [`ca_bundle_env`]), which any config value overrides;
/// 2. `base`, the plan's environment: `SOURCE_DATE_EPOCH`, then `environment.environment`
///    with melange's defaults filled in (layers 1 and 2 of semantics 3.8);
/// 3. `PATH` = [`DEFAULT_PATH`], always, overriding any `PATH` from `base`;
/// 4. `step_env`, the step's `environment:` merged with its ancestors' (the only place `PATH`
///    can change).
///
/// A variable keeps the position where it first appeared, so `SOURCE_DATE_EPOCH` leads and
/// the list is stable from step to step.
pub fn step_environment(
    base: &BTreeMap<String, String>,
    step_env: &BTreeMap<String, String>,
    defaults: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| match out.iter_mut().find(|(key, _)| key == k) {
        Some(entry) => entry.1 = v.to_string(),
        None => out.push((k.to_string(), v.to_string())),
    };
    if let Some(v) = base.get("SOURCE_DATE_EPOCH") {
        set("SOURCE_DATE_EPOCH", v);
    }
    for (k, v) in defaults {
        set(k, v);
    }
    for (k, v) in base {
        set(k, v);
    }
    set("PATH", DEFAULT_PATH);
    for (k, v) in step_env {
        set(k, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn layers_apply_in_melange_order() {
        let base = map(&[
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("HOME", "/home/build"),
            ("PATH", "/opt/bin"),
            ("CC", "gcc"),
        ]);
        let step = map(&[("CC", "clang"), ("EXTRA", "1")]);
        let env = step_environment(&base, &step, &[]);
        assert_eq!(
            env,
            vec![
                ("SOURCE_DATE_EPOCH".into(), "1700000000".into()),
                ("CC".into(), "clang".into()),
                ("HOME".into(), "/home/build".into()),
                ("PATH".into(), DEFAULT_PATH.into()),
                ("EXTRA".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn only_the_step_can_change_path() {
        let base = map(&[("PATH", "/from/environment")]);
        let env = step_environment(&base, &BTreeMap::new(), &[]);
        assert_eq!(get(&env, "PATH"), Some(DEFAULT_PATH));
        let step = map(&[("PATH", "/from/step:/usr/bin")]);
        let env = step_environment(&base, &step, &[]);
        assert_eq!(get(&env, "PATH"), Some("/from/step:/usr/bin"));
    }

    #[test]
    fn ca_variables_are_defaults_the_config_overrides() {
        let base = map(&[("GIT_SSL_CAINFO", "/mine.pem")]);
        let step = map(&[("PIP_CERT", "/step.pem")]);
        let env = step_environment(&base, &step, &ca_bundle_env());
        assert_eq!(get(&env, "SSL_CERT_FILE"), Some(CA_GUEST_PATH));
        assert_eq!(get(&env, "CARGO_HTTP_CAINFO"), Some(CA_GUEST_PATH));
        assert_eq!(get(&env, "GIT_SSL_CAINFO"), Some("/mine.pem"));
        assert_eq!(get(&env, "PIP_CERT"), Some("/step.pem"));
    }

    #[test]
    fn nothing_comes_from_the_host() {
        // The host certainly has these; none may appear unless a layer sets it.
        let env = step_environment(&BTreeMap::new(), &BTreeMap::new(), &[]);
        assert_eq!(env, vec![("PATH".to_string(), DEFAULT_PATH.to_string())]);
    }

    #[test]
    fn each_variable_appears_once() {
        let base = map(&[("A", "1"), ("PATH", "x")]);
        let step = map(&[("A", "2"), ("PATH", "y")]);
        let env = step_environment(&base, &step, &[("A".into(), "0".into())]);
        assert_eq!(env.iter().filter(|(k, _)| k == "A").count(), 1);
        assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1);
        assert_eq!(get(&env, "A"), Some("2"));
    }
}
