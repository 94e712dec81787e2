//! What reaches a test step: the environment (melange's rule) and the workspace.

use super::support::{Scratch, assert_summary, fingerprint};

/// The `KEY=value` lines a step printed with `env | sort`.
fn printed_env(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  | "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_test_env_is_the_config_env_with_the_test_env_on_top() {
    let s = Scratch::new("env.yaml");
    fs_err::write(
        s.path().join("vars.env"),
        "FILE_VAR=from-env-file\nSHADOWED=from-file\n",
    )
    .unwrap();
    let build = s.melwrap(&["build", "env.yaml", "--env-file", "vars.env"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    let run = s.melwrap(&["test", "env.yaml", "--env-file", "vars.env"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_summary(&run, "envy", "ok");
    let env = printed_env(&run.stderr);
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    // test.environment.environment, over environment.environment, over env files.
    assert_eq!(get("TEST_VAR"), Some("from-test"));
    assert_eq!(get("SHADOWED"), Some("from-test"));
    assert_eq!(get("CONFIG_VAR"), Some("from-config"));
    assert_eq!(get("FILE_VAR"), Some("from-env-file"));
    // SOURCE_DATE_EPOCH only because the config sets it in environment.environment.
    assert_eq!(get("SOURCE_DATE_EPOCH"), Some("1234"));
    // Step variables and melange's fixed PATH, as for builds; melange's defaults.
    assert_eq!(get("STEP_VAR"), Some("from-step"));
    assert_eq!(
        get("PATH"),
        Some("/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin")
    );
    assert_eq!(get("HOME"), Some("/home/build"));
    assert_eq!(get("GOMODCACHE"), Some("/var/cache/melange/gomodcache"));
    // A build step's own environment does not reach the tests (the package was built with it).
    assert_eq!(get("BUILD_ONLY"), None, "{}", run.stderr);
    // Nothing from the host.
    assert_eq!(get("NO_COLOR"), None);
}

#[test]
fn source_dir_fills_the_workspace_with_a_copy() {
    let s = Scratch::new("workspace.yaml");
    let src = s.path().join("src");
    fs_err::create_dir_all(&src).unwrap();
    fs_err::write(src.join("input.txt"), "from the source dir\n").unwrap();
    let build = s.melwrap(&["build", "workspace.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    let before = fingerprint(&src);
    let run = s.melwrap(&["test", "workspace.yaml", "--source-dir", "src"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_summary(&run, "wsy", "ok");
    assert_eq!(fingerprint(&src), before, "the test changed the source dir");

    // Without --source-dir the workspace is empty, so the same test fails.
    let run = s.melwrap(&["test", "workspace.yaml", "--workspace-dir", "ws"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_summary(&run, "wsy", "FAILED");
}
