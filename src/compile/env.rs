//! The plan environment: layers 1 and 2 of melange's step environment (semantics doc 3.8;
//! `pkg/config/config.go`, `ParseConfiguration`). `PATH` (layer 3) and step variables
//! (layer 4) are applied per step by the runner.

use std::collections::BTreeMap;

/// Defaults melange sets on `environment.environment` keys that are missing or empty.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("HOME", "/home/build"),
    ("GOPATH", "/home/build/.cache/go"),
    ("GOMODCACHE", "/var/cache/melange/gomodcache"),
    ("UV_CACHE_DIR", "/var/cache/melange/uv"),
    ("PIP_CACHE_DIR", "/var/cache/melange/pip"),
    ("COMPOSER_CACHE_DIR", "/var/cache/melange/composer"),
    ("npm_config_cache", "/var/cache/melange/npm"),
];

/// The guest environment shared by every step, lowest precedence first:
/// `SOURCE_DATE_EPOCH`, then `env_files` (dotenv maps in command-line order; an earlier file
/// wins over a later one, as in melange), then the config's own `environment.environment`
/// (`yaml`, already substituted), then [`DEFAULTS`] for keys that are still missing or empty.
pub fn build_environment(
    yaml: &BTreeMap<String, String>,
    env_files: &[BTreeMap<String, String>],
    source_date_epoch: u64,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert(
        "SOURCE_DATE_EPOCH".to_string(),
        source_date_epoch.to_string(),
    );
    for file in env_files.iter().rev() {
        env.extend(file.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env.extend(yaml.iter().map(|(k, v)| (k.clone(), v.clone())));
    fill_defaults(&mut env, DEFAULTS);
    env
}

/// Set each of `defaults` where `env` lacks the key or has it empty: melange's rule for its
/// defaults, which melwrap also applies to its extra cache variables.
pub fn fill_defaults(env: &mut BTreeMap<String, String>, defaults: &[(&str, &str)]) {
    for (key, value) in defaults {
        let slot = env.entry(key.to_string()).or_default();
        if slot.is_empty() {
            *slot = value.to_string();
        }
    }
}

/// A map from literal pairs (unit tests).
#[cfg(test)]
pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::map as m;
    use super::*;

    #[test]
    fn layers_and_defaults() {
        let yaml = m(&[("HOME", ""), ("GOPATH", "/go"), ("A", "yaml")]);
        let files = [
            m(&[("A", "file1"), ("B", "file1"), ("SOURCE_DATE_EPOCH", "5")]),
            m(&[("B", "file2"), ("C", "file2")]),
        ];
        let env = build_environment(&yaml, &files, 7);
        assert_eq!(env["A"], "yaml");
        assert_eq!(env["B"], "file1");
        assert_eq!(env["C"], "file2");
        // Layer 2 may override SOURCE_DATE_EPOCH.
        assert_eq!(env["SOURCE_DATE_EPOCH"], "5");
        // Empty values get the default; set ones are kept.
        assert_eq!(env["HOME"], "/home/build");
        assert_eq!(env["GOPATH"], "/go");
        assert_eq!(env["npm_config_cache"], "/var/cache/melange/npm");
        assert_eq!(build_environment(&m(&[]), &[], 0)["SOURCE_DATE_EPOCH"], "0");
    }
}
