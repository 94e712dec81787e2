//! The "Behind a proxy" recipe of docs/cache.md: steps get nothing from the host's environment,
//! so proxy variables reach them through `--env-file`. Here `fetch` downloads from a loopback
//! address where nothing listens, through a loopback proxy named only in the env file.

use std::collections::BTreeMap;

use super::support::*;

const CONFIG: &str = r#"
package:
  name: through-a-proxy
  version: 1.0.0
  epoch: 0
pipeline:
  - uses: fetch
    with:
      uri: http://127.0.0.2:9/src-1.0.tar.gz
      expected-sha256: SHA
      retry-limit: 1
      directory: src
  - runs: test -s src/data.bin
"#;

#[test]
fn proxy_variables_reach_the_steps_through_an_env_file() {
    let data = tarball("src-1.0", &[("data.bin", noise(21, 50 << 10))]);
    let server = HttpServer::start(BTreeMap::from([(
        "src-1.0.tar.gz".to_string(),
        data.clone(),
    )]));
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = root.join("project/melange.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CONFIG.replace("SHA", &sha256_hex(&data))).unwrap();
    let cache = root.join("cache");
    let out = root.join("out");

    // Without the env file the download goes straight to the address and is refused: the
    // proxy set in melwrap's own environment is not passed on.
    let (code, _, stderr) = outcome(
        // The failed build keeps its workspace: keep it inside the test's own directory.
        build(
            None,
            &config,
            &cache,
            &out,
            &["--workspace-dir", root.join("ws").to_str().unwrap()],
        )
        .env("http_proxy", server.url(""))
        .output()
        .unwrap(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(server.hits("src-1.0.tar.gz"), 0);

    let env_file = root.join("proxy.env");
    let proxy = format!("http://127.0.0.1:{}", server.port);
    std::fs::write(
        &env_file,
        format!("http_proxy={proxy}\nHTTP_PROXY={proxy}\nno_proxy=localhost\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = outcome(
        build(
            None,
            &config,
            &cache,
            &out,
            &["--env-file", env_file.to_str().unwrap()],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(server.hits("src-1.0.tar.gz"), 1);
    let line = cache_line(&stderr).unwrap();
    assert!(line.ends_with("fetch served from cache: 0 of 1"), "{line}");
}
