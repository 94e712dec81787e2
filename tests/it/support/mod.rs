//! What every area of the integration tests shares.

pub mod files;
pub mod http;
mod run;
pub mod unpriv;

pub use files::walk;
pub use run::Run;

/// The bwrap to use, or `None` (with the reason printed) when it cannot run here, and the
/// calling test returns early. Under `CI=true` an unusable bwrap fails the test instead.
pub fn require_bwrap() -> Option<melwrap::sandbox::probe::Bwrap> {
    match melwrap::sandbox::probe::probe() {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("bwrap must work under CI=true: {e}");
            }
            eprintln!("skipped: bwrap is not usable here: {e}");
            None
        }
    }
}

/// A temporary directory under /tmp that any uid may enter and write, for tests that drop
/// privileges; removed when dropped, even with read-only trees inside.
pub fn open_tempdir(prefix: &str) -> unpriv::TempTree {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    unpriv::TempTree(dir)
}

/// Runs `cmd` and returns its standard output; fails the test with its standard error when
/// it exits unsuccessfully.
#[track_caller]
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Let every uid enter and write `path` (mode 0777), for scenarios run as uid 65534.
pub fn open_up(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// Poll `done` every 50 ms until it holds (true) or `limit` has passed (false). A bounded
/// wait for something another process does, never an assertion about timing.
pub fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The name libtest knows a test of this binary by (`apk::errors::child_write_package` for
/// `test_name(module_path!(), "child_write_package")`), for a test that re-runs this binary with
/// `--exact NAME` to run one helper test in a child process.
pub fn test_name(module: &str, test: &str) -> String {
    let module = module.strip_prefix("it::").unwrap_or(module);
    format!("{module}::{test}")
}
