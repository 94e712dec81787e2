//! The step environment (semantics 3.8), read from inside a step: melange's defaults,
//! melwrap's cache extras, the layers in order, and nothing from the host.

use std::collections::BTreeMap;

use crate::build::common::*;

/// `KEY=VALUE` lines of `env` output (values with newlines are not used here).
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Variables the shell itself sets, which are not part of the sandbox's environment.
const SHELL_OWN: &[&str] = &["PWD", "OLDPWD", "SHLVL", "_"];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";

#[test]
fn defaults_are_set_and_nothing_leaks_from_the_host() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - name: dump\n    runs: env > /var/cache/melange/env.txt\n");
    t.build(Who::Root, &["--no-network"]).ok();
    let env = parse_env(&t.cached("env.txt"));
    let expected = [
        ("SOURCE_DATE_EPOCH", "0"),
        ("HOME", "/home/build"),
        ("PATH", DEFAULT_PATH),
        ("GOPATH", "/home/build/.cache/go"),
        ("GOMODCACHE", "/var/cache/melange/gomodcache"),
        ("UV_CACHE_DIR", "/var/cache/melange/uv"),
        ("PIP_CACHE_DIR", "/var/cache/melange/pip"),
        ("COMPOSER_CACHE_DIR", "/var/cache/melange/composer"),
        ("npm_config_cache", "/var/cache/melange/npm"),
        // melwrap's own cache extras (docs/cache.md): Go's build cache, and uv copying out of
        // the cache (docs/wolfi-and-cache.md).
        ("GOCACHE", "/var/cache/melange/go"),
        ("UV_LINK_MODE", "copy"),
    ];
    for (key, value) in expected {
        assert_eq!(
            env.get(key).map(String::as_str),
            Some(value),
            "{key} in {env:?}"
        );
    }
    // Exactly these, plus what the shell sets for itself: no TMPDIR, NO_COLOR, USER, the
    // canary, or anything else from melwrap's own environment.
    for key in env.keys() {
        assert!(
            expected.iter().any(|(k, _)| k == key) || SHELL_OWN.contains(&key.as_str()),
            "unexpected variable {key} in the step: {env:?}"
        );
    }
    assert!(!env.contains_key(CANARY));
}

#[test]
fn layers_apply_in_melange_order() {
    require_bwrap!();
    let t = TestEnv::new();
    // Layer 2: environment.environment, merged over the env files (YAML wins; the earlier
    // file wins over the later one); an empty value gets melange's default.
    t.write(
        "first.env",
        "IN_FILES=first\nIN_FILE_AND_YAML=first-file\nFIRST_ONLY=1\n",
    );
    t.write(
        "second.env",
        "IN_FILES=second\nIN_FILE_AND_YAML=second-file\nSECOND_ONLY=2\nPATH=/from/env-file\n",
    );
    t.config(
        r#"environment:
  environment:
    IN_FILE_AND_YAML: yaml
    IN_YAML_AND_STEP: yaml
    SOURCE_DATE_EPOCH: "1234"
    PATH: /from/environment
    PIP_CACHE_DIR: ""
    GOMODCACHE: /var/cache/melange
pipeline:
  - name: plain
    runs: env > /var/cache/melange/plain.txt
  - name: with-step-env
    environment:
      IN_YAML_AND_STEP: step
      STEP_ONLY: step
      PATH: /step/bin:/usr/bin:/bin
    runs: env > /var/cache/melange/step.txt
"#,
    );
    t.build(
        Who::Root,
        &[
            "--no-network",
            "--env-file",
            "src/first.env",
            "--env-file",
            "src/second.env",
        ],
    )
    .ok();
    let plain = parse_env(&t.cached("plain.txt"));
    let get = |env: &BTreeMap<String, String>, k: &str| env.get(k).cloned();
    // environment.environment overrides SOURCE_DATE_EPOCH (layer 1).
    assert_eq!(get(&plain, "SOURCE_DATE_EPOCH").as_deref(), Some("1234"));
    assert_eq!(get(&plain, "IN_FILE_AND_YAML").as_deref(), Some("yaml"));
    assert_eq!(get(&plain, "IN_FILES").as_deref(), Some("first"));
    assert_eq!(get(&plain, "FIRST_ONLY").as_deref(), Some("1"));
    assert_eq!(get(&plain, "SECOND_ONLY").as_deref(), Some("2"));
    // A key set but empty gets the default; a value the config gives is kept.
    assert_eq!(
        get(&plain, "PIP_CACHE_DIR").as_deref(),
        Some("/var/cache/melange/pip")
    );
    assert_eq!(
        get(&plain, "GOMODCACHE").as_deref(),
        Some("/var/cache/melange")
    );
    // The fixed PATH beats both the YAML and the env file (melange issue #1956)...
    assert_eq!(get(&plain, "PATH").as_deref(), Some(DEFAULT_PATH));
    assert_eq!(get(&plain, "IN_YAML_AND_STEP").as_deref(), Some("yaml"));
    assert_eq!(get(&plain, "STEP_ONLY"), None);

    // ... and the step's own environment beats everything, PATH included.
    let step = parse_env(&t.cached("step.txt"));
    assert_eq!(
        get(&step, "PATH").as_deref(),
        Some("/step/bin:/usr/bin:/bin")
    );
    assert_eq!(get(&step, "IN_YAML_AND_STEP").as_deref(), Some("step"));
    assert_eq!(get(&step, "STEP_ONLY").as_deref(), Some("step"));
    assert_eq!(get(&step, "IN_FILES").as_deref(), Some("first"));
    assert!(!step.contains_key(CANARY));
}

#[test]
fn source_date_epoch_comes_from_the_build_date() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo \"$SOURCE_DATE_EPOCH\" > /var/cache/melange/sde\n");
    t.build(
        Who::Root,
        &["--no-network", "--build-date", "2024-01-02T03:04:05Z"],
    )
    .ok();
    assert_eq!(t.cached("sde").trim(), "1704164645");
    // melange's rule: SOURCE_DATE_EPOCH in melwrap's environment wins over --build-date.
    let mut cmd = t.build_cmd(
        Who::Root,
        &["--no-network", "--build-date", "2024-01-02T03:04:05Z"],
    );
    cmd.env("SOURCE_DATE_EPOCH", "42");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.cached("sde").trim(), "42");
}
