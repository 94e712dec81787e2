//! The TLS variables of the `--ca-bundle` option: the sandbox's own layer of the step
//! environment (the layers themselves are [`crate::guest::env`]).

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
/// defaults: a config that sets one of them wins (layer 1 of [`crate::guest::env`]).
pub fn ca_bundle_env() -> Vec<(String, String)> {
    CA_VARIABLES
        .iter()
        .map(|k| (k.to_string(), CA_GUEST_PATH.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::env::step_environment;
    use std::collections::BTreeMap;

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
    fn ca_variables_are_defaults_the_config_overrides() {
        let base = map(&[("GIT_SSL_CAINFO", "/mine.pem")]);
        let step = map(&[("PIP_CERT", "/step.pem")]);
        let env = step_environment(&base, &step, &ca_bundle_env());
        assert_eq!(get(&env, "SSL_CERT_FILE"), Some(CA_GUEST_PATH));
        assert_eq!(get(&env, "CARGO_HTTP_CAINFO"), Some(CA_GUEST_PATH));
        assert_eq!(get(&env, "GIT_SSL_CAINFO"), Some("/mine.pem"));
        assert_eq!(get(&env, "PIP_CERT"), Some("/step.pem"));
    }
}
