//! Built-in pipelines compiled by the real compiler and run without a sandbox: a build file
//! of one `uses:` step (in the main package or a subpackage) goes through the library's
//! `config::load_str` and `compile::compile`, exactly as `melwrap compile` and `melwrap build`
//! see it, and each compiled step is wrapped by the sandbox's own `wrap_script` (melange's
//! wrapper: `set -eo pipefail`, create and enter the working directory, the script, `exit 0`).
//! The steps then run under bash or busybox ash, in temporary directories.
//!
//! TEST-ONLY path rewriting: the compiled scripts hold melange's in-sandbox paths. The literal
//! `/var/cache/melange` is replaced by a temporary cache directory and `/home/build` by a
//! temporary workspace in the wrapped script, its working directory and its environment. The
//! real runner mounts those paths instead; nothing else differs from what a build runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::compile::{CompileOptions, compile};
use melwrap::config::load_str;
use melwrap::pipelines::Library;
use melwrap::sandbox::{GuestPath, wrap_script};

/// Which `/bin/sh` runs the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash, as on a Debian host root filesystem.
    Bash,
    /// busybox ash, as in a Wolfi guest.
    Ash,
}

/// One compiled step: its script (already wrapped), working directory and step environment,
/// with the guest paths rewritten.
#[derive(Debug, Clone)]
pub struct Step {
    pub workdir: PathBuf,
    /// The compiled script, unwrapped (a `uses:` step with no script of its own compiles to
    /// no step: its pipeline's steps are the steps).
    pub runs: String,
    pub script: String,
    pub environment: BTreeMap<String, String>,
}

/// What running a pipeline did.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    /// stdout and stderr of every step that ran, in order.
    pub log: String,
}

/// A throw-away build: workspace, cache, HOME, and the values substituted into scripts.
pub struct Build {
    _root: tempfile::TempDir,
    /// Stands in for /home/build.
    pub workspace: PathBuf,
    /// Stands in for /var/cache/melange.
    pub cache: PathBuf,
    pub home: PathBuf,
    pub package: String,
    pub version: String,
    /// The subpackage being built, if any (sets context.name, targets.contextdir).
    pub subpackage: Option<String>,
    pub shell: Shell,
    /// PATH for the steps (the host's by default).
    pub path: String,
    /// Run the steps as this uid/gid (through setpriv when it is not the test's own) instead of
    /// as the test's user.
    pub user: Option<u32>,
}

impl Build {
    pub fn new(shell: Shell) -> Self {
        let root = tempfile::tempdir().unwrap();
        // Names unlike the real paths, so a rewritten path is never rewritten again.
        let workspace = root.path().join("workspace");
        let cache = root.path().join("cache");
        let home = root.path().join("home");
        for d in [&workspace, &cache, &home] {
            fs_err::create_dir_all(d).unwrap();
        }
        let build = Build {
            _root: root,
            workspace,
            cache,
            home,
            package: "hello".into(),
            version: "1.2.3".into(),
            subpackage: None,
            shell,
            path: std::env::var("PATH").unwrap(),
            user: None,
        };
        fs_err::create_dir_all(build.destdir()).unwrap();
        build
    }

    /// Let any user work in the workspace and HOME (for runs with [`Build::user`] set); the
    /// cache keeps its mode.
    pub fn open_to_everyone(&self) {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![self._root.path().to_path_buf()];
        for tree in [&self.workspace, &self.home] {
            let walked = crate::support::walk(tree).into_iter();
            dirs.extend(walked.filter(|p| p.symlink_metadata().unwrap().is_dir()));
        }
        for d in dirs {
            fs_err::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
    }

    /// A second build sharing this one's cache (the point of the cache).
    pub fn with_cache(shell: Shell, cache: &Path) -> Self {
        let mut b = Build::new(shell);
        b.cache = cache.to_path_buf();
        b
    }

    pub fn outdir(&self) -> PathBuf {
        self.workspace.join("melange-out")
    }
    pub fn destdir(&self) -> PathBuf {
        self.outdir().join(&self.package)
    }
    pub fn contextdir(&self) -> PathBuf {
        self.outdir()
            .join(self.subpackage.as_deref().unwrap_or(&self.package))
    }

    /// Build a subpackage from now on; its directory is created as melange does.
    pub fn enter_subpackage(&mut self, name: &str) {
        self.subpackage = Some(name.into());
        fs_err::create_dir_all(self.contextdir()).unwrap();
    }

    /// The build file of one `uses: name` step with `with:`, in the subpackage being built
    /// or else in the main package.
    fn config_text(&self, name: &str, with: &[(&str, &str)]) -> String {
        use serde_yaml::{Mapping, Value};
        let mut step = Mapping::new();
        step.insert("uses".into(), name.into());
        if !with.is_empty() {
            let with: Mapping = with
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            step.insert("with".into(), Value::Mapping(with));
        }
        let pipeline = Value::Sequence(vec![Value::Mapping(step)]);
        let mut package = Mapping::new();
        package.insert("name".into(), self.package.as_str().into());
        package.insert("version".into(), self.version.as_str().into());
        package.insert("epoch".into(), 0.into());
        let mut config = Mapping::new();
        config.insert("package".into(), Value::Mapping(package));
        match &self.subpackage {
            None => {
                config.insert("pipeline".into(), pipeline);
            }
            Some(sub) => {
                let mut subpackage = Mapping::new();
                subpackage.insert("name".into(), sub.as_str().into());
                subpackage.insert("pipeline".into(), pipeline);
                let subpackages = vec![Value::Mapping(subpackage)];
                config.insert("subpackages".into(), Value::Sequence(subpackages));
            }
        }
        serde_yaml::to_string(&config).unwrap()
    }

    /// Compile `uses: name` with `with:` (see [`Build::config_text`]) and wrap each step as
    /// the sandbox does; a load or compile error comes back as its message.
    pub fn render(&self, name: &str, with: &[(&str, &str)]) -> Result<Vec<Step>, String> {
        let text = self.config_text(name, with);
        let loaded = load_str(Path::new("melange.yaml"), &text).map_err(|d| d.to_string())?;
        let opts = CompileOptions::for_arch(std::env::consts::ARCH);
        let plan = compile(&loaded, &Library::new(vec![]), &opts).map_err(|d| d.to_string())?;
        let context = self.subpackage.as_deref().unwrap_or(&self.package);
        let package = plan.packages.iter().find(|p| p.name == context).unwrap();
        let steps = package.steps.iter().map(|step| {
            let workdir = GuestPath::new(&step.workdir).unwrap();
            let environment = step
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), self.rewrite(v)))
                .collect();
            Step {
                workdir: PathBuf::from(self.rewrite(&step.workdir)),
                runs: self.rewrite(&step.script),
                script: self.rewrite(&wrap_script(&workdir, &step.script, false)),
                environment,
            }
        });
        Ok(steps.collect())
    }

    /// TEST-ONLY: point melange's fixed in-sandbox paths at this build's directories.
    fn rewrite(&self, text: &str) -> String {
        text.replace("/var/cache/melange", &self.cache.display().to_string())
            .replace("/home/build", &self.workspace.display().to_string())
    }

    /// The command that runs `script` with this build's shell and environment, plus the
    /// step's own `environment`.
    fn command(&self, script: &str, environment: &BTreeMap<String, String>) -> Command {
        // Absolute paths: the step's PATH (set below) may not hold the shell.
        let shell: Vec<PathBuf> = match self.shell {
            Shell::Bash => vec![which::which("bash").unwrap()],
            Shell::Ash => vec![which::which("busybox").unwrap(), "ash".into()],
        };
        let mut cmd = match self.user {
            None => Command::new(&shell[0]),
            Some(id) => crate::support::unpriv::as_user(id, &shell[0]),
        };
        cmd.args(&shell[1..]);
        let script = match self.shell {
            Shell::Ash => format!("{}{script}", path_first_shims(&self.path)),
            Shell::Bash => script.to_string(),
        };
        cmd.arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("SOURCE_DATE_EPOCH", "0")
            .envs(environment)
            .current_dir(&self.workspace);
        cmd
    }

    /// Render and run `uses: name`; stops at the first failing step, like a build.
    pub fn run(&self, name: &str, with: &[(&str, &str)]) -> Outcome {
        let steps = match self.render(name, with) {
            Ok(s) => s,
            Err(e) => {
                return Outcome {
                    ok: false,
                    log: format!("compile error: {e}"),
                };
            }
        };
        let mut log = String::new();
        for step in steps {
            let out = self
                .command(&step.script, &step.environment)
                .output()
                .unwrap();
            log.push_str(&String::from_utf8_lossy(&out.stdout));
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                log.push_str(&format!("\n[step failed: {}]\n", out.status));
                return Outcome { ok: false, log };
            }
        }
        Outcome { ok: true, log }
    }

    /// Run `name` and fail the test with the log when it fails.
    pub fn ok(&self, name: &str, with: &[(&str, &str)]) -> String {
        let out = self.run(name, with);
        assert!(out.ok, "{name} failed ({:?}):\n{}", self.shell, out.log);
        out.log
    }

    /// Run `name` and fail the test when it succeeds.
    pub fn fails(&self, name: &str, with: &[(&str, &str)]) -> String {
        let out = self.run(name, with);
        assert!(
            !out.ok,
            "{name} should fail ({:?}):\n{}",
            self.shell, out.log
        );
        out.log
    }
}

/// How the host's busybox ash finds commands: `None` when it looks them up in PATH as a
/// Wolfi guest's does; else its applet names, which it runs before PATH's programs (Debian's
/// `busybox-static` is built with FEATURE_SH_STANDALONE: there `patch` is busybox's, which has
/// no `--fuzz`).
fn applets_first() -> Option<&'static [String]> {
    static APPLETS: std::sync::OnceLock<Option<Vec<String>>> = std::sync::OnceLock::new();
    APPLETS
        .get_or_init(|| {
            let busybox = which::which("busybox").expect("busybox is installed");
            let out = Command::new(&busybox)
                .args(["ash", "-c", "command -v cat"])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).starts_with('/') {
                return None;
            }
            let list = Command::new(&busybox).arg("--list").output().unwrap();
            Some(
                String::from_utf8_lossy(&list.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect(),
            )
        })
        .as_deref()
}

/// Names ash runs itself whatever PATH holds, and the shells: never shimmed.
const ASH_OWN: &[&str] = &[
    "[", "[[", ".", "alias", "ash", "bg", "break", "busybox", "cd", "chdir", "command", "continue",
    "echo", "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash", "jobs", "kill",
    "let", "local", "printf", "pwd", "read", "readonly", "return", "set", "sh", "shift", "source",
    "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait",
];

/// For an ash that runs its applets first ([`applets_first`]): shell functions that run PATH's
/// program instead, for every applet `path` also provides, so the steps see the tools a Wolfi
/// guest's PATH gives them (GNU patch, tar, ...) whichever busybox package the host has.
fn path_first_shims(path: &str) -> String {
    let Some(applets) = applets_first() else {
        return String::new();
    };
    let busybox = which::which("busybox")
        .ok()
        .and_then(|b| std::fs::canonicalize(b).ok());
    let mut shims = String::new();
    // ash function names are letters, digits and `_` (no `run-parts`).
    let nameable = |n: &&String| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    for name in applets
        .iter()
        .filter(nameable)
        .filter(|n| !ASH_OWN.contains(&n.as_str()))
    {
        let Ok(found) = which::which_in(name, Some(path), "/") else {
            continue;
        };
        if std::fs::canonicalize(&found).ok() == busybox {
            continue;
        }
        shims.push_str(&format!("{name}() {{ '{}' \"$@\"; }}\n", found.display()));
    }
    shims
}

/// A directory of symlinks making a PATH with exactly `tools`: each links to `target` when
/// given (busybox applets), else to the host's program of that name.
pub fn tool_path(dir: &Path, tools: &[&str], target: Option<&str>) -> String {
    fs_err::create_dir_all(dir).unwrap();
    for tool in tools {
        let to = match target {
            Some(t) => PathBuf::from(t),
            None => which::which(tool).unwrap_or_else(|_| panic!("{tool} not installed")),
        };
        std::os::unix::fs::symlink(to, dir.join(tool)).unwrap();
    }
    dir.display().to_string()
}

pub use crate::support::http::HttpServer;
