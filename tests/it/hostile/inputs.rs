//! Hostile inputs are refused before anything runs, within bounded memory and time, as root and
//! as an ordinary user.
//!
//! - Every build file under `testdata/hostile/` (written by `scripts/gen-hostile-inputs.py`)
//!   would exhaust memory or the stack of a compiler without limits: `uses:` loops and
//!   fan-outs, doubling `vars`, a multiplying var-transform, 10^5 nested parentheses, aliased
//!   long strings. `melwrap compile` runs on each with its address space capped at 1 GiB
//!   (`RLIMIT_AS`), so an out-of-memory abort or a stack overflow fails the test, and must
//!   exit 2 with exactly the `.expected` error.
//! - A FIFO given as the build file, an `--env-file`, a `--signing-key` or a `--pipeline-dir`
//!   definition is refused at once, naming the file (opening a FIFO for reading would wait for
//!   a writer forever; each run is killed after 20 s and the test then fails).

use crate::support::unpriv;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The address-space cap of every run: far above what melwrap needs, far below what the
/// hostile files would take without limits.
const MEMORY_CAP: libc::rlim_t = 1 << 30;
/// A run still going after this long is killed and the test fails.
const GUARD: Duration = Duration::from_secs(20);

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A world-readable copy of `testdata/hostile` and of the binary in a fresh directory, so the
/// unprivileged user can read and run them.
struct Scene {
    dir: unpriv::TempTree,
    bin: PathBuf,
}

fn scene() -> Scene {
    let dir = unpriv::TempTree(
        tempfile::Builder::new()
            .prefix("melwrap-hostile-inputs-")
            .tempdir_in("/tmp")
            .unwrap(),
    );
    open_up(dir.path());
    let bin = unpriv::place_binary(dir.path());
    copy_tree(&manifest_dir().join("testdata/hostile"), dir.path());
    Scene { dir, bin }
}

fn open_up(dir: &Path) {
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir(&dest).unwrap();
            open_up(&dest);
            copy_tree(&entry.path(), &dest);
        } else {
            fs_err::copy(entry.path(), &dest).unwrap();
            fs_err::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string and a mode; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
}

/// Run `melwrap args` in `dir` as root (or the suite's user) or as the unprivileged user,
/// with the memory cap, killed after [`GUARD`].
fn run(scene: &Scene, unprivileged: bool, args: &[&str]) -> Output {
    let mut cmd = if unprivileged {
        unpriv::as_nobody(&scene.bin)
    } else {
        Command::new(&scene.bin)
    };
    cmd.args(args)
        .current_dir(scene.dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: MEMORY_CAP,
                rlim_max: MEMORY_CAP,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("run melwrap");
    // Drain the pipes on threads so a chatty child cannot stall on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("melwrap {args:?} still ran after {GUARD:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Runs melwrap with `args` and checks that it refuses them as bad input (exit 2) with
/// `says` in its stderr.
#[track_caller]
fn refused(scene: &Scene, unprivileged: bool, args: &[&str], says: &str) {
    let out = run(scene, unprivileged, args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{stderr}");
}

fn both_users(mut check: impl FnMut(bool)) {
    check(false);
    check(true);
}

#[test]
fn every_hostile_build_file_is_refused_with_its_expected_error() {
    let scene = scene();
    let mut fixtures: Vec<String> = fs_err::read_dir(scene.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 12, "only {fixtures:?}");
    let mut failures = Vec::new();
    for name in &fixtures {
        let expected_path = scene.dir.path().join(name.replace(".yaml", ".expected"));
        let expected = fs_err::read_to_string(&expected_path).unwrap();
        both_users(|unprivileged| {
            let out = run(
                &scene,
                unprivileged,
                &[
                    "compile",
                    "--arch",
                    "x86_64",
                    "--pipeline-dir",
                    "pipelines",
                    name,
                ],
            );
            let who = if unprivileged {
                "unprivileged"
            } else {
                "as is"
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code() != Some(2) {
                failures.push(format!(
                    "{name} ({who}): {:?}, expected exit 2\n{}",
                    out.status,
                    stderr.chars().take(2000).collect::<String>()
                ));
            } else if stderr != expected {
                failures.push(format!(
                    "{name} ({who}):\n--- expected\n{expected}--- got\n{stderr}"
                ));
            }
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const VALID: &str = "package:\n  name: hello\n  version: 1.0.0\npipeline:\n  - runs: echo hello\n";

#[test]
fn a_fifo_as_build_file_env_file_key_or_pipeline_is_refused_at_once() {
    let scene = scene();
    let dir = scene.dir.path();
    fs_err::write(dir.join("melange.yaml"), VALID).unwrap();
    fs_err::write(
        dir.join("uses-fifo.yaml"),
        "package:\n  name: hello\n  version: 1.0.0\npipeline:\n  - uses: from-fifo\n",
    )
    .unwrap();
    for f in ["melange.yaml", "uses-fifo.yaml"] {
        fs_err::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    fs_err::create_dir(dir.join("fifo-pipelines")).unwrap();
    open_up(&dir.join("fifo-pipelines"));
    for fifo in [
        "config.fifo",
        "env.fifo",
        "key.fifo",
        "fifo-pipelines/from-fifo.yaml",
    ] {
        mkfifo(&dir.join(fifo));
    }
    fs_err::create_dir(dir.join("empty")).unwrap();
    open_up(&dir.join("empty"));

    both_users(|unprivileged| {
        let out = run(&scene, unprivileged, &["validate", "-q", "config.fifo"]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "config.fifo: this is a FIFO (named pipe), not a regular file\n  \
             hint: melwrap reads build files only from regular files\n"
        );

        refused(
            &scene,
            unprivileged,
            &[
                "build",
                "--dry-run",
                "--arch",
                "host",
                "--env-file",
                "env.fifo",
                "melange.yaml",
            ],
            "env.fifo: cannot read env file: it is a FIFO (named pipe), not a regular file",
        );

        refused(
            &scene,
            unprivileged,
            &["index", "--signing-key", "key.fifo", "empty"],
            "key.fifo: cannot read signing key: it is a FIFO (named pipe), not a regular file",
        );

        refused(
            &scene,
            unprivileged,
            &[
                "compile",
                "--arch",
                "x86_64",
                "--pipeline-dir",
                "fifo-pipelines",
                "uses-fifo.yaml",
            ],
            "uses-fifo.yaml:5:5: `pipeline[0].uses`: invalid pipeline definition \
                 fifo-pipelines/from-fifo.yaml: cannot read it: it is a FIFO (named pipe), \
                 not a regular file",
        );
    });
}

#[test]
fn oversized_env_files_and_keys_are_refused_naming_the_file() {
    let scene = scene();
    let dir = scene.dir.path();
    fs_err::write(dir.join("melange.yaml"), VALID).unwrap();
    let big_env = format!("A={}\n", "x".repeat(1024 * 1024));
    fs_err::write(dir.join("big.env"), big_env).unwrap();
    fs_err::write(dir.join("big.rsa"), "x".repeat(64 * 1024 + 1)).unwrap();
    fs_err::create_dir(dir.join("empty")).unwrap();
    for f in ["melange.yaml", "big.env", "big.rsa"] {
        fs_err::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    open_up(&dir.join("empty"));
    both_users(|unprivileged| {
        refused(
            &scene,
            unprivileged,
            &[
                "build",
                "--dry-run",
                "--arch",
                "host",
                "--env-file",
                "big.env",
                "melange.yaml",
            ],
            "big.env: cannot read env file: it is larger than 1 MiB (the limit)",
        );
        refused(
            &scene,
            unprivileged,
            &["index", "--signing-key", "big.rsa", "empty"],
            "big.rsa: cannot read signing key: it is larger than 64 KiB (the limit)",
        );
    });
}
