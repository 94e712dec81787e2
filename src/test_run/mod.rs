//! `melwrap test` (and `melwrap build --test`): run a config's `test:` pipelines against the
//! packages a build wrote, each package in a fresh sandbox where its files are installed at `/`.
//!
//! melange (`pkg/build/test.go`, semantics doc 6.2) builds one apko guest per tested package
//! from `test.environment` (the package under test plus its test `needs`) and runs the test
//! pipeline there with the same runner as builds. melwrap has no package manager: it takes the
//! `.apk` files from `<out-dir>/<arch>/`, unpacks their data sections into a temporary
//! directory ([`extract`]) and layers them over the read-only guest root with binds
//! ([`install`]). Packages of the same config named in `test.environment.contents.packages`
//! (the main package for a subpackage's test, say) are installed the same way; other packages
//! are reported as not installable, as for builds.
//!
//! Order: check every package file exists before anything runs (exit 2 otherwise), then for
//! each tested package run its steps with `build`'s [`StepRunner`], carry on after a failure,
//! and print a summary. melange stops at the first failing package; melwrap reports them all.

pub mod extract;
pub mod install;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{self, WrapErr};

use crate::build::setup::absolute;
use crate::build::{
    PackageOutcome, Prepared, SandboxHost, StepRunner, open_cache, prepare_sandbox, report_failure,
    scrub_cache, status_for_signal,
};
use crate::cache;
use crate::cli::{ExitStatus, StatusError};
use crate::compile::env::fill_defaults;
use crate::compile::{PackagePlan, TestPlan};
use crate::diag::Diagnostic;
use crate::printer::{Printer, format_duration};
use crate::sandbox::root::LiveTree;
use crate::sandbox::run as sandbox_run;
use crate::sandbox::{CA_GUEST_PATH, HostPath, Rootfs};
use crate::workspace::Workspace;

/// How to run the tests: the flags `melwrap test` and `melwrap build --test` share.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Where the packages are (`<out_dir>/<arch>/*.apk`).
    pub out_dir: PathBuf,
    /// Mounted read-write at /var/cache/melange (created when missing).
    pub cache_dir: PathBuf,
    /// `host` or a directory.
    pub rootfs: String,
    pub network: bool,
    pub ca_bundle: Option<PathBuf>,
    pub interactive: bool,
    pub debug: bool,
    /// Copied into the workspace when given; otherwise the workspace is empty (melange).
    pub source_dir: Option<PathBuf>,
    pub workspace_dir: Option<PathBuf>,
    /// The `--env-file`s the config was compiled with (to tell whether `SOURCE_DATE_EPOCH`
    /// came from the user).
    pub env_files: Vec<PathBuf>,
    /// Test only this package (melange's `[package-name]` argument).
    pub only: Option<String>,
    /// Stop the whole test run after this long.
    pub timeout: Option<std::time::Duration>,
    /// `--build-uid`, `--pids`, `--memory`.
    pub limits: crate::cli::shared::LimitArgs,
}

impl TestOptions {
    /// The options `melwrap build --test` runs the tests with: the build's out dir, cache,
    /// rootfs, network, CA bundle, `--interactive`, `--debug` and `--source-dir`.
    pub fn from_build(args: &crate::cli::build::Args) -> TestOptions {
        TestOptions {
            out_dir: args.out_dir.clone(),
            cache_dir: args.cache_dir.clone(),
            limits: args.sandbox.limits.clone(),
            rootfs: args.rootfs.clone(),
            network: !args.sandbox.no_network,
            ca_bundle: args.sandbox.ca_bundle.clone(),
            interactive: args.sandbox.interactive,
            debug: args.debug,
            // As `melange test`: the workspace is filled only from an explicit `--source-dir`.
            source_dir: args.source_dir.clone(),
            workspace_dir: None,
            env_files: args.input.env_files.clone(),
            only: None,
            timeout: None,
        }
    }
}

/// One tested package, ready to run: the package files to install, in install order (the
/// package under test last).
struct Job<'a> {
    test: &'a TestPlan,
    installs: Vec<(String, PathBuf)>,
}

/// How one package's test ended.
#[derive(Debug)]
pub struct TestResult {
    pub package: String,
    pub passed: bool,
    pub duration: Duration,
    /// Why it failed (the step and its status).
    pub failure: Option<String>,
}

/// Run every `test:` of the compiled config against the packages in `opts.out_dir`.
pub fn run(prepared: &Prepared, opts: &TestOptions, printer: Printer) -> eyre::Result<ExitStatus> {
    // The same directory rules as a build's, before anything is created (the out dir holds
    // the packages to install, so a step must not be able to write there either).
    crate::build::dirs::check_run(&crate::build::dirs::RunPaths {
        source: opts.source_dir.as_deref().map(|s| (s, true)),
        cache: Some(&opts.cache_dir),
        workspace: opts.workspace_dir.as_deref(),
        out: Some(&opts.out_dir),
        config: Some(&prepared.loaded.path),
        env_files: &opts.env_files,
        ca_bundle: opts.ca_bundle.as_deref(),
        rootfs: Some(Path::new(&opts.rootfs)).filter(|r| *r != Path::new("host")),
        temporary_workspace: true,
        ..Default::default()
    })?;
    let plan = &prepared.plan;
    let tests: Vec<&TestPlan> = plan
        .tests
        .iter()
        .filter(|t| !t.steps.is_empty())
        .filter(|t| opts.only.as_ref().is_none_or(|only| &t.name == only))
        .collect();
    if let Some(only) = &opts.only
        && tests.is_empty()
    {
        let with_tests: Vec<&str> = plan
            .tests
            .iter()
            .filter(|t| !t.steps.is_empty())
            .map(|t| t.name.as_str())
            .collect();
        return Err(crate::diag::Diagnostic::new(
            &prepared.loaded.path,
            format!("package `{only}` has no `test:` pipeline in this config"),
        )
        .hint(if with_tests.is_empty() {
            "this config has no tests at all".to_string()
        } else {
            format!("packages with tests: {}", with_tests.join(", "))
        })
        .into());
    }
    if tests.is_empty() {
        printer.info(format!(
            "{}: no `test:` pipelines: nothing to test",
            prepared.loaded.path.display()
        ));
        return Ok(ExitStatus::Success);
    }

    // Every package file must be there before anything runs.
    let arch_dir = opts.out_dir.join(prepared.arch.apk);
    let files: BTreeMap<&str, PathBuf> = plan
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                arch_dir.join(package_file_name(prepared, p)),
            )
        })
        .collect();
    let (jobs, missing, foreign) = plan_jobs(&tests, &files);
    if !missing.is_empty() {
        return Err(missing_packages(&missing, prepared).into());
    }
    if !foreign.is_empty() {
        printer.info(format!(
            "note: melwrap does not install packages from repositories; the tests use the guest \
             root's tools instead of: {}",
            foreign.join(", ")
        ));
    }

    let host = SandboxHost::resolve(&opts.rootfs, opts.ca_bundle.as_deref(), &opts.limits)?;
    let keep_sde = user_sets_source_date_epoch(prepared, &opts.env_files)?;

    let (cache, _lock) = open_cache(&opts.cache_dir, None, printer)?;
    let cache_mode = cache.mode().wrap_err("cannot read the cache dir's mode")?;
    let workspace = Workspace::create(opts.workspace_dir.as_deref(), prepared.arch.apk)?;
    host.hand_over_cache(&cache, false, printer)?;
    if let Some(source) = &opts.source_dir {
        fs_err::create_dir_all(source)?;
        let mut exclude = vec![cache.path().to_path_buf(), opts.out_dir.clone()];
        exclude.extend(opts.workspace_dir.clone());
        let mut secrets = opts.env_files.clone();
        secrets.extend(opts.ca_bundle.clone());
        let copied = workspace.populate(source, &exclude, &secrets)?;
        printer.detail(format!(
            "workspace {}: {} files from {}",
            workspace.root().display(),
            copied.files,
            source.display()
        ));
        crate::build::note_withheld(&copied.withheld, printer);
    }

    host.hand_over_workspace(&workspace)?;

    // The packages' files, unpacked once each.
    let unpacked = Unpacked::new()?;
    for job in &jobs {
        for (name, file) in &job.installs {
            unpacked.add(name, file, printer)?;
        }
    }

    sandbox_run::install_signal_handlers();
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| started + t);
    let mut results = Vec::new();
    let mut interrupted = None;
    for job in &jobs {
        let t0 = Instant::now();
        let names: Vec<&str> = job.installs.iter().map(|(n, _)| n.as_str()).collect();
        printer.info(format!(
            "==> testing `{}` (installed: {})",
            job.test.name,
            names.join(", ")
        ));
        let trees: Vec<(String, LiveTree)> = job
            .installs
            .iter()
            .map(|(n, _)| Ok((n.clone(), LiveTree::new(&Rootfs::Dir(unpacked.root(n)?)))))
            .collect::<eyre::Result<_>>()?;
        let packages: Vec<install::Package> = trees
            .iter()
            .map(|(name, tree)| install::Package { name, tree })
            .collect();
        let live = LiveTree::new(&host.rootfs);
        let view = install::GuestView {
            tree: &live,
            host: host.rootfs == Rootfs::Host,
        };
        let ca_guest = host.ca_bundle.as_ref().map(|_| CA_GUEST_PATH);
        let layers = install::plan(&view, &packages, ca_guest);
        for note in &layers.notes {
            printer.warn(note);
        }

        let mut config = host.config(&workspace, &cache, opts.network)?;
        config.extra_ro_binds = layers.binds;
        config.extra_symlinks = layers.symlinks;
        let sandbox = prepare_sandbox(config)?;
        let runner = StepRunner {
            sandbox: &sandbox,
            bwrap: &host.bwrap.path,
            printer,
            base_env: test_environment(&plan.environment, keep_sde, &job.test.environment),
            debug: opts.debug,
            interactive: opts.interactive,
            deadline,
        };
        let outcome = runner.run_steps(&job.test.name, &job.test.steps)?;
        let duration = t0.elapsed();
        match outcome {
            PackageOutcome::Done => results.push(TestResult {
                package: job.test.name.clone(),
                passed: true,
                duration,
                failure: None,
            }),
            PackageOutcome::Failed(failure) => {
                report_failure(&failure, printer);
                printer.error(format!("test of `{}` failed: {failure}", job.test.name));
                results.push(TestResult {
                    package: job.test.name.clone(),
                    passed: false,
                    duration,
                    failure: Some(format!(
                        "step `{}` failed ({}) at {}",
                        failure.step, failure.status, failure.origin
                    )),
                });
            }
            PackageOutcome::Interrupted(sig) => {
                interrupted = Some(sig);
                break;
            }
        }
    }

    print_summary(&results, started.elapsed(), printer);
    drop(unpacked);
    // Test steps write the cache as build steps do.
    scrub_cache(&cache, cache_mode, printer)?;
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.package.as_str())
        .collect();
    if let Some(sig) = interrupted {
        printer.warn(format!(
            "interrupted by {}: stopping the tests",
            sandbox_run::signal_name(sig)
        ));
        workspace.finish(true)?;
        return Ok(status_for_signal(sig));
    }
    if let Some(kept) = workspace.finish(failed.is_empty())?
        && (!failed.is_empty() || opts.workspace_dir.is_some())
    {
        printer.info(format!("workspace kept: {}", kept.display()));
    }
    if failed.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        Err(StatusError(
            ExitStatus::Failure,
            format!(
                "{} of {} test(s) failed: {}",
                failed.len(),
                results.len(),
                failed.join(", ")
            ),
        )
        .into())
    }
}

/// `<name>-<version>-r<epoch>.apk`, exactly as the packager names it.
fn package_file_name(prepared: &Prepared, package: &PackagePlan) -> String {
    let info = crate::apk::BuildInfo {
        arch: prepared.arch.apk.to_string(),
        ..Default::default()
    };
    crate::apk::meta_for(&prepared.loaded.config.package, package, &info).file_name()
}

/// For each test, the package files to install (others first, the package under test last);
/// the files that are missing; and the packages that are not this config's.
fn plan_jobs<'a>(
    tests: &[&'a TestPlan],
    files: &BTreeMap<&str, PathBuf>,
) -> (Vec<Job<'a>>, Vec<(String, PathBuf)>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut missing: Vec<(String, PathBuf)> = Vec::new();
    let mut foreign: BTreeSet<String> = BTreeSet::new();
    for test in tests {
        let mut installs = Vec::new();
        let others = test.packages.iter().filter(|p| **p != test.name);
        for name in others.chain(std::iter::once(&test.name)) {
            let Some(file) = files.get(name.as_str()) else {
                foreign.insert(name.clone());
                continue;
            };
            if !file.is_file() && !missing.iter().any(|(n, _)| n == name) {
                missing.push((name.clone(), file.clone()));
            }
            installs.push((name.clone(), file.clone()));
        }
        jobs.push(Job { test, installs });
    }
    (jobs, missing, foreign.into_iter().collect())
}

fn missing_packages(missing: &[(String, PathBuf)], prepared: &Prepared) -> Diagnostic {
    let (_, first) = &missing[0];
    let mut message = String::from("no built package to test:");
    for (name, file) in missing {
        message.push_str(&format!("\n  `{name}`: {} does not exist", file.display()));
    }
    Diagnostic::new(first, message).hint(format!(
        "build the packages first with `melwrap build {}` (same --out-dir and --arch)",
        prepared.loaded.path.display()
    ))
}

/// melange's test environment (`pkg/build/test.go`, `buildWorkspaceConfig`): the config's
/// `environment.environment` (with its defaults and env files) with `test.environment.environment`
/// on top, and no `SOURCE_DATE_EPOCH` unless the user set one there. melwrap's cache defaults
/// fill missing or empty keys as for builds, since the cache is mounted. `PATH` and the steps'
/// own variables are added per step by the runner.
pub fn test_environment(
    plan_env: &BTreeMap<String, String>,
    keep_source_date_epoch: bool,
    test_env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = plan_env.clone();
    if !keep_source_date_epoch {
        env.remove("SOURCE_DATE_EPOCH");
    }
    fill_defaults(&mut env, &cache::default_env());
    env.extend(test_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Did `SOURCE_DATE_EPOCH` in the plan environment come from the config or an env file (kept)
/// rather than from the build date (dropped for tests)?
fn user_sets_source_date_epoch(prepared: &Prepared, env_files: &[PathBuf]) -> eyre::Result<bool> {
    const KEY: &str = "SOURCE_DATE_EPOCH";
    if prepared
        .loaded
        .config
        .environment
        .environment
        .contains_key(KEY)
    {
        return Ok(true);
    }
    for file in env_files {
        if crate::build::envfile::read(file)?.contains_key(KEY) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn print_summary(results: &[TestResult], total: Duration, printer: Printer) {
    if results.is_empty() {
        return;
    }
    let width = results.iter().map(|r| r.package.len()).max().unwrap_or(0);
    printer.info("test summary:");
    for r in results {
        let line = format!(
            "  {:<6} {:<width$}  {}",
            if r.passed { "ok" } else { "FAILED" },
            r.package,
            format_duration(r.duration),
        );
        match &r.failure {
            None => printer.info(line),
            Some(why) => printer.info(format!("{line}  {why}")),
        }
    }
    let passed = results.iter().filter(|r| r.passed).count();
    printer.info(format!(
        "{passed} passed, {} failed in {}",
        results.len() - passed,
        format_duration(total)
    ));
}

/// The temporary directory holding each package's unpacked files.
struct Unpacked {
    dir: tempfile::TempDir,
}

impl Unpacked {
    fn new() -> eyre::Result<Unpacked> {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-test-")
            .tempdir()
            .wrap_err("cannot create a temporary directory for the packages' files")?;
        Ok(Unpacked { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Unpack `file` for package `name`, once.
    fn add(&self, name: &str, file: &Path, printer: Printer) -> eyre::Result<()> {
        let dest = self.path(name);
        if dest.exists() {
            return Ok(());
        }
        let info = crate::apk::read_package(file)?;
        if info.name() != name {
            return Err(Diagnostic::new(
                file,
                format!("holds package `{}`, not `{name}`", info.name()),
            )
            .hint("rebuild the packages with `melwrap build`")
            .into());
        }
        let stats = extract::extract_data(file, name, &dest)?;
        printer.detail(format!(
            "unpacked {} ({} files, {} directories, {} symlinks)",
            file.display(),
            stats.files + stats.hardlinks,
            stats.dirs,
            stats.symlinks
        ));
        if !stats.skipped.is_empty() {
            printer.warn(format!(
                "{}: device nodes and FIFOs cannot be installed rootless, left out: {}",
                file.display(),
                stats.skipped.join(", ")
            ));
        }
        Ok(())
    }

    /// The unpacked root of package `name`, as an absolute host path.
    fn root(&self, name: &str) -> eyre::Result<HostPath> {
        Ok(absolute(&self.path(name), "unpacked package")?)
    }
}

impl Drop for Unpacked {
    /// Packages may ship read-only directories: their contents are removed through
    /// descriptors (made writable first), then the temporary directory itself, on success,
    /// failure or error alike.
    fn drop(&mut self) {
        extract::remove_unpacked(self.dir.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::env::map as m;

    #[test]
    fn test_env_is_the_config_env_with_the_test_env_on_top_and_no_build_date() {
        let plan_env = m(&[
            ("SOURCE_DATE_EPOCH", "0"),
            ("HOME", "/home/build"),
            ("SHARED", "config"),
            ("OVERRIDDEN", "config"),
        ]);
        let test_env = m(&[("OVERRIDDEN", "test"), ("ONLY_TEST", "1")]);
        let env = test_environment(&plan_env, false, &test_env);
        assert!(!env.contains_key("SOURCE_DATE_EPOCH"));
        assert_eq!(env["SHARED"], "config");
        assert_eq!(env["OVERRIDDEN"], "test");
        assert_eq!(env["ONLY_TEST"], "1");
        assert_eq!(env["HOME"], "/home/build");
        assert_eq!(env["GOCACHE"], "/var/cache/melange/go");
        // A SOURCE_DATE_EPOCH the user set in environment.environment is passed on.
        let kept = test_environment(&plan_env, true, &test_env);
        assert_eq!(kept["SOURCE_DATE_EPOCH"], "0");
    }
}
