//! A small stand-in for the runner, so built-in pipelines can be run for real before
//! `melwrap build` exists: render a definition's steps with test values, then run each step the
//! way melange wraps it (`set -eo pipefail`, create and enter the working directory, the
//! script, `exit 0`), without a sandbox, in temporary directories.
//!
//! TEST-ONLY path rewriting: the scripts hard-code melange's in-sandbox paths. When rendering,
//! the literal `/var/cache/melange` is replaced by a temporary cache directory and `/home/build`
//! by a temporary workspace. The real runner mounts those paths instead; nothing in the
//! pipelines themselves knows about this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::config::model::Pipeline;
use melwrap::pipelines::Library;

/// Which `/bin/sh` runs the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash, as on a Debian host root filesystem.
    Bash,
    /// busybox ash, as in a Wolfi guest.
    Ash,
}

/// One rendered step: its script (already wrapped) and working directory.
#[derive(Debug, Clone)]
pub struct Step {
    pub workdir: PathBuf,
    pub script: String,
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
        for entry in walk(&self.workspace).into_iter().chain(walk(&self.home)) {
            dirs.push(entry);
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

    fn globals(&self) -> BTreeMap<String, String> {
        let arch = std::env::consts::ARCH;
        let (gnu, rust, goarch) = match arch {
            "aarch64" => (
                "aarch64-unknown-linux-gnu",
                "aarch64-unknown-linux-gnu",
                "arm64",
            ),
            _ => ("x86_64-pc-linux-gnu", "x86_64-unknown-linux-gnu", "amd64"),
        };
        let mut m = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        set("package.name", self.package.clone());
        set("package.version", self.version.clone());
        set("package.epoch", "0".into());
        set("package.full-version", format!("{}-r0", self.version));
        set("package.srcdir", self.workspace.display().to_string());
        set("targets.outdir", self.outdir().display().to_string());
        set("targets.destdir", self.destdir().display().to_string());
        set(
            "targets.contextdir",
            self.contextdir().display().to_string(),
        );
        if let Some(sub) = &self.subpackage {
            set("targets.subpkgdir", self.contextdir().display().to_string());
            set("subpkg.name", sub.clone());
        }
        set(
            "context.name",
            self.subpackage.clone().unwrap_or(self.package.clone()),
        );
        set("host.triplet.gnu", gnu.into());
        set("host.triplet.rust", rust.into());
        set("build.arch", arch.into());
        set("build.goarch", goarch.into());
        m
    }

    /// Render `uses: name` with `with:` into wrapped scripts, as the compiler would.
    pub fn render(&self, name: &str, with: &[(&str, &str)]) -> Result<Vec<Step>, String> {
        let with: BTreeMap<String, String> = with
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut steps = Vec::new();
        let globals = self.globals();
        self.render_uses(name, &with, &globals, None, &mut steps)?;
        Ok(steps)
    }

    fn render_uses(
        &self,
        name: &str,
        with: &BTreeMap<String, String>,
        scope: &BTreeMap<String, String>,
        workdir: Option<&Path>,
        out: &mut Vec<Step>,
    ) -> Result<(), String> {
        let def = Library::new(vec![])
            .resolve(name)
            .map_err(|e| e.to_string())?;
        let mut vars = self.globals();
        for key in with.keys() {
            if !def.pipeline.inputs.contains_key(key) {
                return Err(format!("undefined input {key:?} to pipeline {name:?}"));
            }
        }
        for (key, input) in &def.pipeline.inputs {
            let given = with.get(key).map(String::as_str).unwrap_or("");
            let raw = if given.is_empty() {
                input.default.as_str()
            } else {
                given
            };
            if raw.is_empty() && input.required {
                return Err(format!("required input {key:?} for pipeline is missing"));
            }
            vars.insert(
                format!("inputs.{key}"),
                substitute(&self.rewrite(raw), scope)?,
            );
        }
        for step in &def.pipeline.pipeline {
            self.render_step(step, &vars, workdir, out)?;
        }
        Ok(())
    }

    fn render_step(
        &self,
        step: &Pipeline,
        vars: &BTreeMap<String, String>,
        parent_wd: Option<&Path>,
        out: &mut Vec<Step>,
    ) -> Result<(), String> {
        assert!(step.if_.is_empty(), "the harness does not evaluate if:");
        let wd = if step.working_directory.is_empty() {
            parent_wd.map(Path::to_path_buf)
        } else {
            let wd = substitute(&self.rewrite(&step.working_directory), vars)?;
            Some(self.workspace.join(wd))
        };
        let wd_or_default = wd.clone().unwrap_or(self.workspace.clone());
        if !step.uses.is_empty() {
            let mut with = BTreeMap::new();
            for (k, v) in &step.with {
                with.insert(k.clone(), substitute(v, vars)?);
            }
            return self.render_uses(&step.uses, &with, vars, wd.as_deref(), out);
        }
        let runs = substitute(&self.rewrite(&step.runs), vars)?;
        let wd_text = wd_or_default.display().to_string();
        let q = shell_words::quote(&wd_text);
        out.push(Step {
            workdir: wd_or_default.clone(),
            script: format!(
                "set -eo pipefail\n[ -d {q} ] || mkdir -p {q}\ncd {q}\n{runs}\nexit 0\n"
            ),
        });
        for child in &step.pipeline {
            self.render_step(child, vars, wd.as_deref(), out)?;
        }
        Ok(())
    }

    /// TEST-ONLY: point melange's fixed in-sandbox paths at this build's directories.
    fn rewrite(&self, text: &str) -> String {
        text.replace("/var/cache/melange", &self.cache.display().to_string())
            .replace("/home/build", &self.workspace.display().to_string())
    }

    /// The command that runs `script` with this build's shell and environment.
    pub fn command(&self, script: &str) -> Command {
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
        cmd.arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("SOURCE_DATE_EPOCH", "0")
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
            let out = self.command(&step.script).output().unwrap();
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

/// `dir` and every directory under it.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in fs_err::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        }
    }
    out
}

/// Replace every `${{name}}` from `vars`; an unknown name is an error, as in melange.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let re = regex::Regex::new(r"\$\{\{\s*([A-Za-z0-9._-]+)\s*\}\}").unwrap();
    let mut missing = None;
    let out = re.replace_all(text, |c: &regex::Captures| match vars.get(&c[1]) {
        Some(v) => v.clone(),
        None => {
            missing = Some(c[1].to_string());
            String::new()
        }
    });
    match missing {
        Some(name) => Err(format!("variable {name} not defined")),
        None => Ok(out.into_owned()),
    }
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
