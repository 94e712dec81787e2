//! The step environment, layer by layer: the one place that says which value a step sees.
//!
//! Lowest precedence first (melange's order, semantics doc 3.8, `pkg/config/config.go`
//! `ParseConfiguration` and `pkg/container/bubblewrap_runner.go`):
//!
//! 1. melwrap's own defaults for a run ([`crate::sandbox::ca_bundle_env`] with `--ca-bundle`),
//!    which any other layer overrides;
//! 2. `SOURCE_DATE_EPOCH` (the build date);
//! 3. the `--env-file`s, in command-line order, an earlier file winning over a later one;
//! 4. the config's `environment.environment`;
//! 5. [`DEFAULTS`] (melange's, then melwrap's cache variables), only where layers 2 to 4 left
//!    the variable missing or empty;
//! 6. `PATH` = [`DEFAULT_PATH`], forced: `environment.environment` cannot change it;
//! 7. the step's own `environment:` (merged with its ancestors'), the only place `PATH` can
//!    change.
//!
//! Layers 2 to 5 are the plan environment ([`build_environment`], printed by
//! `melwrap compile`); the runner adds 1, 6 and 7 per step ([`step_environment`]). `melwrap
//! test` starts from the same plan environment (without the build date) with the test's
//! `environment` on top of layer 5 (`driver::test::test_environment`). Nothing comes from the
//! host.

use std::collections::BTreeMap;

use super::concat_guest;

/// Defaults set on `environment.environment` keys that are missing or empty (melange's
/// `setIfEmpty` rule). All but the last two are melange's own. `GOCACHE` is melwrap's: Go's
/// build cache is keyed by a hash of every input (compiler, flags, sources, environment) and
/// written with its own locking, so sharing it between builds cannot change what is built,
/// only skip recompiling identical packages. `UV_LINK_MODE=copy` is melwrap's too: uv's
/// cache and the workspace are different mounts, so its default (hard links) always fails
/// and warns "Failed to hardlink files" before copying anyway.
///
/// `GOCACHE` is not set when `GOMODCACHE` is the cache dir itself (see
/// [`fill_defaults`]): that dir is the user's Go module cache, which holds nothing else.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("HOME", super::HOME),
    ("GOPATH", concat_guest!(workspace ".cache/go")),
    ("GOMODCACHE", concat_guest!(cache "gomodcache")),
    ("UV_CACHE_DIR", concat_guest!(cache "uv")),
    ("PIP_CACHE_DIR", concat_guest!(cache "pip")),
    ("COMPOSER_CACHE_DIR", concat_guest!(cache "composer")),
    ("npm_config_cache", concat_guest!(cache "npm")),
    ("GOCACHE", concat_guest!(cache "go")),
    ("UV_LINK_MODE", "copy"),
];

/// The [`DEFAULTS`] that point into the cache (`melwrap cache` reports on their areas).
pub fn cache_variables() -> impl Iterator<Item = (&'static str, &'static str)> {
    DEFAULTS
        .iter()
        .copied()
        .filter(|(_, value)| value.starts_with(super::CACHE))
}

/// The `PATH` every step starts with; `environment.environment` cannot change it, only a
/// step's own `environment:` can (melange issue #1956).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";

/// Layers 2 to 5: the environment shared by every step of a plan. `yaml` is the config's
/// `environment.environment`, already substituted; `env_files` are the dotenv maps in
/// command-line order.
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
    fill_defaults(&mut env);
    env
}

/// Layer 5: set each of [`DEFAULTS`] where `env` lacks the key or has it empty; except that
/// when the config points `GOMODCACHE` at the cache dir itself (the user's own Go module
/// cache given as `--cache-dir`), `GOCACHE` stays out of it: Go then keeps its build cache
/// under `$HOME/.cache/go-build` in the workspace, as it would in melange.
pub fn fill_defaults(env: &mut BTreeMap<String, String>) {
    let module_cache_is_root = env.get("GOMODCACHE").is_some_and(|v| is_cache_root(v));
    for (key, value) in DEFAULTS {
        if module_cache_is_root && *key == "GOCACHE" {
            continue;
        }
        let slot = env.entry(key.to_string()).or_default();
        if slot.is_empty() {
            *slot = value.to_string();
        }
    }
}

/// Whether a guest path names the cache mount itself (`/var/cache/melange`, `.../melange/`).
pub fn is_cache_root(path: &str) -> bool {
    path.trim_end_matches('/') == super::CACHE
}

/// One step's final environment, each variable once, in `--setenv` order: `defaults` (layer
/// 1), then `base` (the plan environment, layers 2 to 5), then `PATH` (6), then `step_env` (7).
///
/// melange passes the layers as successive `--setenv` flags and lets the last one win;
/// melwrap resolves them first, so each variable is set once and `--dry-run` shows the value
/// the step really gets. A variable keeps the position where it first appeared, so
/// `SOURCE_DATE_EPOCH` leads and the list is stable from step to step.
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
    // A step whose own environment points GOMODCACHE at the cache dir itself keeps melwrap's
    // GOCACHE default out of it, as `fill_defaults` does for the config's.
    let value = |k: &str| out.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let default_gocache = DEFAULTS
        .iter()
        .find(|(k, _)| *k == "GOCACHE")
        .map(|(_, v)| *v);
    if value("GOMODCACHE").is_some_and(|v| is_cache_root(&v))
        && !step_env.contains_key("GOCACHE")
        && value("GOCACHE").as_deref() == default_gocache
    {
        out.retain(|(k, _)| k != "GOCACHE");
    }
    out
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
    use crate::guest::{CACHE, HOME};

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn plan_layers_and_defaults() {
        let yaml = m(&[("HOME", ""), ("GOPATH", "/go"), ("A", "yaml")]);
        let files = [
            m(&[("A", "file1"), ("B", "file1"), ("SOURCE_DATE_EPOCH", "5")]),
            m(&[("B", "file2"), ("C", "file2")]),
        ];
        let env = build_environment(&yaml, &files, 7);
        assert_eq!(env["A"], "yaml");
        assert_eq!(env["B"], "file1");
        assert_eq!(env["C"], "file2");
        // An env file may override SOURCE_DATE_EPOCH.
        assert_eq!(env["SOURCE_DATE_EPOCH"], "5");
        // Empty values get the default; set ones are kept.
        assert_eq!(env["HOME"], HOME);
        assert_eq!(env["GOPATH"], "/go");
        assert_eq!(env["npm_config_cache"], format!("{CACHE}/npm"));
        assert_eq!(env["GOCACHE"], format!("{CACHE}/go"));
        assert_eq!(build_environment(&m(&[]), &[], 0)["SOURCE_DATE_EPOCH"], "0");
    }

    #[test]
    fn uv_copies_by_default_and_the_config_or_a_file_can_say_otherwise() {
        assert_eq!(build_environment(&m(&[]), &[], 0)["UV_LINK_MODE"], "copy");
        let yaml = m(&[("UV_LINK_MODE", "symlink")]);
        assert_eq!(build_environment(&yaml, &[], 0)["UV_LINK_MODE"], "symlink");
        let file = [m(&[("UV_LINK_MODE", "hardlink")])];
        assert_eq!(
            build_environment(&m(&[]), &file, 0)["UV_LINK_MODE"],
            "hardlink"
        );
    }

    #[test]
    fn a_module_cache_at_the_cache_root_gets_no_gocache_beside_it() {
        for root in [CACHE.to_string(), format!("{CACHE}/")] {
            let env = build_environment(&m(&[("GOMODCACHE", &root)]), &[], 0);
            assert!(!env.contains_key("GOCACHE"), "{env:?}");
            // Go then uses $HOME/.cache/go-build in the workspace; the other defaults stay.
            assert_eq!(env["PIP_CACHE_DIR"], format!("{CACHE}/pip"));
        }
        // A GOCACHE the config sets is kept.
        let yaml = m(&[("GOMODCACHE", CACHE), ("GOCACHE", "/home/build/gocache")]);
        assert_eq!(
            build_environment(&yaml, &[], 0)["GOCACHE"],
            "/home/build/gocache"
        );
        // The same when only the step points GOMODCACHE at the root.
        let base = build_environment(&m(&[]), &[], 0);
        let step = m(&[("GOMODCACHE", CACHE)]);
        let env = step_environment(&base, &step, &[]);
        assert_eq!(get(&env, "GOCACHE"), None);
        let env = step_environment(&base, &BTreeMap::new(), &[]);
        assert_eq!(get(&env, "GOCACHE"), Some(format!("{CACHE}/go").as_str()));
    }

    #[test]
    fn cache_variables_live_under_the_guest_cache() {
        let names: Vec<&str> = cache_variables().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "GOMODCACHE",
                "UV_CACHE_DIR",
                "PIP_CACHE_DIR",
                "COMPOSER_CACHE_DIR",
                "npm_config_cache",
                "GOCACHE"
            ]
        );
    }

    #[test]
    fn step_layers_apply_in_melange_order() {
        let base = m(&[
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("HOME", HOME),
            ("PATH", "/opt/bin"),
            ("CC", "gcc"),
        ]);
        let step = m(&[("CC", "clang"), ("EXTRA", "1")]);
        let env = step_environment(&base, &step, &[]);
        assert_eq!(
            env,
            vec![
                ("SOURCE_DATE_EPOCH".into(), "1700000000".into()),
                ("CC".into(), "clang".into()),
                ("HOME".into(), HOME.into()),
                ("PATH".into(), DEFAULT_PATH.into()),
                ("EXTRA".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn only_the_step_can_change_path() {
        let base = m(&[("PATH", "/from/environment")]);
        let env = step_environment(&base, &BTreeMap::new(), &[]);
        assert_eq!(get(&env, "PATH"), Some(DEFAULT_PATH));
        let step = m(&[("PATH", "/from/step:/usr/bin")]);
        let env = step_environment(&base, &step, &[]);
        assert_eq!(get(&env, "PATH"), Some("/from/step:/usr/bin"));
    }

    #[test]
    fn nothing_comes_from_the_host() {
        // The host certainly has these; none may appear unless a layer sets it.
        let env = step_environment(&BTreeMap::new(), &BTreeMap::new(), &[]);
        assert_eq!(env, vec![("PATH".to_string(), DEFAULT_PATH.to_string())]);
    }

    #[test]
    fn each_variable_appears_once() {
        let base = m(&[("A", "1"), ("PATH", "x")]);
        let step = m(&[("A", "2"), ("PATH", "y")]);
        let env = step_environment(&base, &step, &[("A".into(), "0".into())]);
        assert_eq!(env.iter().filter(|(k, _)| k == "A").count(), 1);
        assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1);
        assert_eq!(get(&env, "A"), Some("2"));
    }
}
