//! The per-build report says, per area, what the build added and what it was seen to read:
//! a warm build that only reads its cache says so instead of "unchanged".

use std::process::Command;

use super::support::*;

const CONFIG: &str = r#"
package:
  name: area-report
  version: 1.0.0
  epoch: 0
pipeline:
  - runs: |
      cat /var/cache/melange/npm/_cacache/content-v2/entry > /dev/null
      mkdir -p /var/cache/melange/pip/http-v2/a
      head -c 3000 /dev/zero > /var/cache/melange/pip/http-v2/a/new.body
"#;

#[test]
fn the_report_lists_each_area_with_what_was_added_and_read() {
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = root.join("project/melange.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CONFIG).unwrap();
    let cache = root.join("cache");
    let entry = cache.join("npm/_cacache/content-v2/entry");
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    std::fs::write(&entry, vec![b'n'; 2048]).unwrap();
    // Last used two days ago: under `relatime` the next read moves the access time.
    let touched = Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(&entry)
        .status()
        .unwrap();
    assert!(touched.success());
    let (code, stdout, stderr) = outcome(
        build(None, &config, &cache, &root.join("out"), &["--no-network"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let line = cache_line(&stderr).unwrap();
    assert!(line.contains("pip +2.9 KiB"), "{line}");
    assert!(!stderr.contains("unchanged"), "{stderr}");
    let pip = stderr
        .lines()
        .find(|l| l.starts_with("  pip "))
        .unwrap_or_else(|| panic!("no pip line in\n{stderr}"));
    assert_eq!(
        pip,
        "  pip 2.9 KiB in 1 entry: added +2.9 KiB (1 new entry)"
    );
    let npm = stderr
        .lines()
        .find(|l| l.starts_with("  npm "))
        .unwrap_or_else(|| panic!("no npm line in\n{stderr}"));
    let mount = String::from_utf8(
        Command::new("findmnt")
            .args(["-no", "OPTIONS", "-T"])
            .arg(&cache)
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .unwrap();
    if mount.contains("noatime") {
        // Reads cannot be seen here: the area is listed, with nothing said about reads.
        assert_eq!(npm, "  npm 2.0 KiB in 1 entry: nothing added", "{mount}");
    } else {
        assert_eq!(
            npm,
            "  npm 2.0 KiB in 1 entry: nothing added; read 2.0 KiB (1 entry)"
        );
    }
}
