//! `melwrap test` (and `melwrap build --test`): run a config's `test:` pipelines against the
//! packages a build wrote, each package in a fresh sandbox.
//!
//! melange (`pkg/build/test.go`, semantics doc 6.2) builds one apko guest per tested package
//! from `test.environment` (the package under test plus its test `needs`) and runs the test
//! pipeline there with the same runner as builds. melwrap does the same when a repository is
//! named (or `--rootfs apk`): each test's guest is resolved from the out dir as a local
//! repository plus the config's repositories, and assembled once into the guest cache
//! ([`guest`]). Otherwise (`--rootfs host`, a directory, or `auto` with no repository) it
//! takes the `.apk` files from `<out-dir>/<arch>/`, unpacks their data sections
//! ([`extract`]) and layers them over the read-only root with binds ([`install`]); packages
//! of other configs cannot be installed that way and are reported.
//!
//! Order: check every package file exists and find or assemble every guest before anything
//! runs (exit 2 otherwise), then for each tested package run its steps in the [`Session`],
//! carry on after a failure, and print a summary. melange stops at the first failing
//! package; melwrap reports them all.

pub mod extract;
pub mod guest;
pub mod install;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre;

use crate::compile::{PackagePlan, TestPlan};
use crate::diag::Diagnostic;
use crate::inputs::{self, PlanInputs, Prepared};
use crate::printer::{Printer, format_duration};
use crate::sandbox::root::LiveTree;
use crate::sandbox::{CA_GUEST_PATH, Rootfs, Sandbox};
use crate::session::{
    Ending, Fill, NamedPaths, PackageOutcome, SandboxHost, Session, SessionOptions,
    prepare_sandbox, report_failure,
};
use crate::status::ExitStatus;
use extract::Unpacked;

/// What `melwrap test` (and `melwrap build --test`) is asked to do.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// The build file; default: melange's names in the current directory.
    pub config: Option<PathBuf>,
    /// `host` or an architecture name.
    pub arch: String,
    /// The config is compiled exactly as `melwrap build` would with these inputs.
    pub plan: PlanInputs,
    /// `out_dir` is where the packages are (`<out_dir>/<arch>/*.apk`).
    pub session: SessionOptions,
    /// Copied into the workspace when given; otherwise the workspace is empty (melange).
    pub source_dir: Option<PathBuf>,
    /// Test only this package (melange's `[package-name]` argument).
    pub only: Option<String>,
    /// Stop the whole test run after this long.
    pub timeout: Option<Duration>,
}

impl TestOptions {
    /// The options `melwrap build --test` runs the tests with: the build's session (out dir,
    /// cache, rootfs, network, CA bundle, `--interactive`, `--debug`) and `--source-dir`, a
    /// temporary workspace, every package, no timeout.
    pub fn after_build(build: &crate::driver::build::BuildOptions) -> TestOptions {
        let mut session = SessionOptions {
            workspace_dir: None,
            cache_source: None,
            ..build.session.clone()
        };
        // The out dir's index is signed with the build's key: its public half (`KEY.pub`,
        // as `melwrap keygen` writes it) lets the test guests trust it.
        if let Some(key) = &build.signing_key {
            let public = PathBuf::from(format!("{}.pub", key.display()));
            if public.is_file() {
                session
                    .guest
                    .keyring_append
                    .push(public.display().to_string());
            }
        }
        TestOptions {
            config: build.config.clone(),
            arch: build.arch.clone(),
            plan: build.plan.clone(),
            session,
            // As `melange test`: the workspace is filled only from an explicit `--source-dir`.
            source_dir: build.source_dir.clone(),
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

/// `melwrap test`: load and compile the config as `melwrap build` would, then test.
pub fn run(opts: TestOptions, printer: Printer) -> eyre::Result<ExitStatus> {
    let prepared = inputs::prepare(
        opts.config.as_deref(),
        &opts.arch,
        &opts.plan,
        None,
        printer,
    )?;
    match prepared {
        Some(prepared) => run_prepared(&prepared, &opts, printer),
        None => Ok(ExitStatus::Success),
    }
}

/// Run every `test:` of the compiled config against the packages in the out dir.
pub fn run_prepared(
    prepared: &Prepared,
    opts: &TestOptions,
    printer: Printer,
) -> eyre::Result<ExitStatus> {
    // The same directory rules as a build's, before anything is created (the out dir holds
    // the packages to install, so a step must not be able to write there either).
    let s = &opts.session;
    s.check_dirs(&NamedPaths {
        config: &prepared.loaded.path,
        source: opts.source_dir.as_deref().map(|source| (source, true)),
        pipeline_dirs: &[],
        env_files: &opts.plan.env_files,
        signing_key: None,
    })?;
    let Some(tests) = selected_tests(prepared, opts.only.as_deref(), printer)? else {
        return Ok(ExitStatus::Success);
    };
    let config = &prepared.loaded.config;
    let in_guests = guest::use_guests(s, config);
    let jobs = checked_jobs(prepared, &tests, &s.out_dir, !in_guests, printer)?;
    let mut host = SandboxHost::resolve(&s.rootfs, s.ca_bundle.as_deref(), &s.limits)?;
    let tested: Vec<&TestPlan> = jobs.iter().map(|j| j.test).collect();
    let roots = guest::job_roots(&mut host, s, prepared, &tested, in_guests, printer)?;
    let keep_sde = user_sets_source_date_epoch(prepared, &opts.plan.env_files)?;
    if let Some(source) = &opts.source_dir {
        fs_err::create_dir_all(source)?;
    }
    let fill = Fill {
        source: opts.source_dir.as_deref(),
        secrets: opts
            .plan
            .env_files
            .iter()
            .chain(&s.ca_bundle)
            .cloned()
            .collect(),
        home_links: false,
        cache_report: false,
    };
    let session = Session::open(host, s.clone(), prepared.arch.apk, fill, printer)?;
    // Over the session's root (no guests): the packages' files, unpacked once each.
    let unpacked = Unpacked::new()?;
    for (job, root) in jobs.iter().zip(&roots) {
        if root.guest.is_none() {
            for (name, file) in &job.installs {
                unpacked.add(name, file, printer)?;
            }
        }
    }
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| started + t);
    let finished = session.drive(|session| {
        let mut results = Vec::new();
        let work: Vec<(&Job<'_>, &guest::JobRoot)> = jobs.iter().zip(&roots).collect();
        let ending = run_jobs(
            session,
            &work,
            &unpacked,
            deadline,
            keep_sde,
            prepared,
            &mut results,
        );
        print_summary(&results, started.elapsed(), printer);
        drop(unpacked);
        Ok(ending?.unwrap_or_else(|| summary_ending(&results)))
    })?;
    let announce = match finished.ending {
        Ending::Failed(_) => true,
        Ending::Done => s.workspace_dir.is_some(),
        Ending::Interrupted(_) => false,
    };
    if let Some(kept) = finished.kept.as_ref().filter(|_| announce) {
        printer.info(format!("workspace kept: {}", kept.display()));
    }
    finished.status("tests", printer)
}

/// Each job in a fresh sandbox, carrying on after a failure; `Some` when a signal stopped
/// the run.
fn run_jobs(
    session: &Session,
    work: &[(&Job<'_>, &guest::JobRoot)],
    unpacked: &Unpacked,
    deadline: Option<Instant>,
    keep_sde: bool,
    prepared: &Prepared,
    results: &mut Vec<TestResult>,
) -> eyre::Result<Option<Ending>> {
    for &(job, root) in work {
        let sandbox = job_sandbox(session, job, root, unpacked)?;
        let env = test_environment(&prepared.plan.environment, keep_sde, &job.test.environment);
        let runner = session.runner(&sandbox, env, deadline);
        let t0 = Instant::now();
        let outcome = runner.run_steps(&job.test.name, &job.test.steps)?;
        if let Some(ending) = record(job, outcome, t0.elapsed(), results, session.printer) {
            return Ok(Some(ending));
        }
    }
    Ok(None)
}

/// The tests to run: every package's with steps, or only `only`'s. `None` when there are none
/// (said so).
fn selected_tests<'p>(
    prepared: &'p Prepared,
    only: Option<&str>,
    printer: Printer,
) -> eyre::Result<Option<Vec<&'p TestPlan>>> {
    let plan = &prepared.plan;
    let with_steps = || plan.tests.iter().filter(|t| !t.steps.is_empty());
    let tests: Vec<&TestPlan> = with_steps()
        .filter(|t| only.is_none_or(|only| t.name == only))
        .collect();
    if let Some(only) = only
        && tests.is_empty()
    {
        let names: Vec<&str> = with_steps().map(|t| t.name.as_str()).collect();
        return Err(Diagnostic::new(
            &prepared.loaded.path,
            format!("package `{only}` has no `test:` pipeline in this config"),
        )
        .hint(if names.is_empty() {
            "this config has no tests at all".to_string()
        } else {
            format!("packages with tests: {}", names.join(", "))
        })
        .into());
    }
    if tests.is_empty() {
        printer.info(format!(
            "{}: no `test:` pipelines: nothing to test",
            prepared.loaded.path.display()
        ));
        return Ok(None);
    }
    Ok(Some(tests))
}

/// The jobs, once every package file they install is known to be there. `layered`: the
/// packages are layered over the session's root (no guests), so say which cannot be.
fn checked_jobs<'a>(
    prepared: &Prepared,
    tests: &[&'a TestPlan],
    out_dir: &Path,
    layered: bool,
    printer: Printer,
) -> eyre::Result<Vec<Job<'a>>> {
    let arch_dir = out_dir.join(prepared.arch.apk);
    let files: BTreeMap<&str, PathBuf> = prepared
        .plan
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                arch_dir.join(package_file_name(prepared, p)),
            )
        })
        .collect();
    let (jobs, missing, foreign) = plan_jobs(tests, &files);
    if !missing.is_empty() {
        return Err(missing_packages(&missing, prepared).into());
    }
    if layered && !foreign.is_empty() {
        printer.info(format!(
            "note: melwrap does not install packages from repositories; the tests use the guest \
             root's tools instead of: {}",
            foreign.join(", ")
        ));
    }
    Ok(jobs)
}

/// A fresh sandbox for `job`: in its guest, or the session's with the job's packages layered
/// over the root; as the job's run-as user.
fn job_sandbox(
    session: &Session,
    job: &Job<'_>,
    root: &guest::JobRoot,
    unpacked: &Unpacked,
) -> eyre::Result<Sandbox> {
    let printer = session.printer;
    if let Some((_, host)) = &root.guest {
        printer.info(format!("==> testing `{}` in its guest", job.test.name));
        let mut config =
            host.config(&session.workspace, &session.cache, session.options.network)?;
        root.accounts.apply(&mut config)?;
        return prepare_sandbox(config);
    }
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
    let host = &session.host;
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
    let mut config = session.sandbox_config()?;
    config.extra_ro_binds = layers.binds;
    config.extra_symlinks = layers.symlinks;
    root.accounts.apply(&mut config)?;
    prepare_sandbox(config)
}

/// Record how `job` ended; `Some` when the run stops here (a signal).
fn record(
    job: &Job<'_>,
    outcome: PackageOutcome,
    duration: Duration,
    results: &mut Vec<TestResult>,
    printer: Printer,
) -> Option<Ending> {
    let package = job.test.name.clone();
    let failure = match outcome {
        PackageOutcome::Done => None,
        PackageOutcome::Failed(failure) => {
            report_failure(&failure, printer);
            printer.error(format!("test of `{package}` failed: {failure}"));
            Some(format!(
                "step `{}` failed ({}) at {}",
                failure.step, failure.status, failure.origin
            ))
        }
        PackageOutcome::Interrupted(sig) => return Some(Ending::Interrupted(sig)),
    };
    results.push(TestResult {
        package,
        passed: failure.is_none(),
        duration,
        failure,
    });
    None
}

/// Every test ran: a failure names the packages that failed.
fn summary_ending(results: &[TestResult]) -> Ending {
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.package.as_str())
        .collect();
    if failed.is_empty() {
        return Ending::Done;
    }
    Ending::Failed(format!(
        "{} of {} test(s) failed: {}",
        failed.len(),
        results.len(),
        failed.join(", ")
    ))
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
/// on top, and no `SOURCE_DATE_EPOCH` unless the user set one there. The plan environment
/// already holds the guest defaults (cache variables included, since the cache is mounted);
/// `PATH` and the steps' own variables are added per step by the runner
/// (layers: [`crate::guest::env`]).
pub fn test_environment(
    plan_env: &BTreeMap<String, String>,
    keep_source_date_epoch: bool,
    test_env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = plan_env.clone();
    if !keep_source_date_epoch {
        env.remove("SOURCE_DATE_EPOCH");
    }
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
        if inputs::envfile::read(file)?.contains_key(KEY) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::env::{build_environment, map as m};
    use crate::guest::{CACHE, HOME};

    #[test]
    fn test_env_is_the_config_env_with_the_test_env_on_top_and_no_build_date() {
        let yaml = m(&[("SHARED", "config"), ("OVERRIDDEN", "config")]);
        let plan_env = build_environment(&yaml, &[], 0);
        let test_env = m(&[("OVERRIDDEN", "test"), ("ONLY_TEST", "1")]);
        let env = test_environment(&plan_env, false, &test_env);
        assert!(!env.contains_key("SOURCE_DATE_EPOCH"));
        assert_eq!(env["SHARED"], "config");
        assert_eq!(env["OVERRIDDEN"], "test");
        assert_eq!(env["ONLY_TEST"], "1");
        assert_eq!(env["HOME"], HOME);
        assert_eq!(env["GOCACHE"], format!("{CACHE}/go"));
        // A SOURCE_DATE_EPOCH the user set in environment.environment is passed on.
        let kept = test_environment(&plan_env, true, &test_env);
        assert_eq!(kept["SOURCE_DATE_EPOCH"], "0");
    }
}
