//! `melwrap build`: the stages in order, on one screen.
//!
//! load and compile ([`crate::inputs`]) → check the directories → probe bwrap → open the
//! session (cache, workspace) → run each package's steps → write packages → report the cache
//! → clean up ([`crate::session`] scrubs and secures on every way out).
//! Everything up to the first step is checked before anything runs, so bad input exits 2 with
//! nothing changed (semantics doc, section 9).

mod package;

use std::path::{Path, PathBuf};
use std::time::Instant;

use color_eyre::eyre;

use crate::cache;
use crate::compile::Plan;
use crate::config::LoadedConfig;
use crate::inputs::{self, PlanInputs, Prepared};
use crate::printer::{Printer, format_duration};
use crate::sandbox::{Identity, Sandbox};
use crate::session::accounts::StepAccounts;
use crate::session::root::GuestRoot;
use crate::session::{
    Ending, Fill, Finished, NamedPaths, PackageOutcome, SandboxHost, Session, SessionOptions,
    StepRunner, prepare_sandbox, report_failure, restore_workspace_mode,
};
use crate::status::ExitStatus;

pub use package::Packager;

/// What `melwrap build` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build file; default: melange's names in the current directory.
    pub config: Option<PathBuf>,
    /// `host` or an architecture name.
    pub arch: String,
    pub plan: PlanInputs,
    pub session: SessionOptions,
    /// Copied into the workspace; default: the build file's directory.
    pub source_dir: Option<PathBuf>,
    pub signing_key: Option<PathBuf>,
    /// Write or update `<out>/<arch>/APKINDEX.tar.gz`.
    pub generate_index: bool,
    /// Print each step's bwrap command and run nothing.
    pub dry_run: bool,
    /// Go duration replacing `package.timeout`.
    pub timeout: Option<String>,
    /// Run the config's tests after a successful build.
    pub test: bool,
    /// `--dependency-log FILE`: record what dependency scanning found in `FILE.<arch>`.
    pub dependency_log: Option<PathBuf>,
    /// `--lint-require`, `--lint-warn`, `--fail-on-lint-warning`, `--persist-lint-results`.
    pub lint: crate::lint::LintOptions,
    /// `--git-repo-url`, `--git-commit`, `--license`, `--namespace`.
    pub provenance: crate::sbom::Provenance,
    /// Copy nothing into the workspace (melange's `--empty-workspace`).
    pub empty_workspace: bool,
    /// Append a line per package built to `./packages.log` (melange's `--create-build-log`).
    pub create_build_log: bool,
}

/// `melwrap build`.
pub fn run(opts: BuildOptions, printer: Printer) -> eyre::Result<ExitStatus> {
    opts.lint.check()?;
    let prepared = inputs::prepare(
        opts.config.as_deref(),
        &opts.arch,
        &opts.plan,
        opts.timeout.as_deref(),
        printer,
    )?;
    let Some(prepared) = prepared else {
        return Ok(ExitStatus::Success);
    };
    let started = Instant::now();
    let config_dir = config_dir(&prepared.loaded.path);
    let source_dir = opts.source_dir.clone().unwrap_or(config_dir.clone());
    let source = (!opts.empty_workspace).then_some(source_dir.as_path());
    opts.session.check_dirs(&NamedPaths {
        config: &prepared.loaded.path,
        source: source.map(|dir| (dir, opts.source_dir.is_some())),
        pipeline_dirs: &opts.plan.pipeline_dirs,
        env_files: &opts.plan.env_files,
        signing_key: opts.signing_key.as_deref(),
    })?;
    // A repository that is this build's own out dir holds the user's own output: used even
    // unsigned, so a chain of configs builds in order into one out dir.
    let mut session_options = opts.session.clone();
    session_options
        .guest
        .own_unsigned
        .push(session_options.out_dir.display().to_string());
    let s = &session_options;
    let mut host = SandboxHost::resolve(&s.rootfs, s.ca_bundle.as_deref(), &s.limits)?;
    let contents = &prepared.loaded.config.environment.contents;
    let guest = crate::session::root::choose(&mut host, s, contents, prepared.arch.apk, printer)?;
    if guest.is_none() {
        note_uninstalled_packages(&prepared.plan, &prepared.loaded, printer);
    }
    let config = &prepared.loaded.config;
    let accounts = StepAccounts::prepare(
        "environment.accounts",
        &config.environment.accounts,
        &config.capabilities,
        &host.rootfs,
        &host.bwrap.path,
    )?;
    printer.detail(accounts.describe());
    let packager = match opts.dry_run {
        true => None,
        false => Some(packager(&opts, &prepared, &host, &config_dir)?),
    };
    let fill = Fill {
        source,
        secrets: secrets(&opts),
        // A cache dir that is the user's Go module cache gets nothing but Go's modules.
        home_links: !module_cache_is_root(&prepared.plan.environment),
        cache_report: true,
    };
    let session = Session::open(host, s.clone(), prepared.arch.apk, fill, printer)?;
    let mut sandbox_config = session.sandbox_config()?;
    accounts.apply(&mut sandbox_config)?;
    let sandbox = prepare_sandbox(sandbox_config)?;
    let deadline = prepared.timeout.map(|t| Instant::now() + t);
    if opts.dry_run {
        // The printed commands bind the generated /etc/passwd and /etc/group: kept for them.
        let kept = accounts.keep();
        printer.info(format!(
            "dry run: the commands bind the generated /etc/passwd and /etc/group from {}, kept \
             for them (remove it when done)",
            kept.display()
        ));
        return dry_run(session, &sandbox, &prepared, deadline, guest.as_ref());
    }
    let finished = session.drive(|session| {
        let runner = session.runner(&sandbox, prepared.plan.environment.clone(), deadline);
        run_steps(session, &runner, &prepared, packager.as_ref())
    })?;
    report(&finished, &prepared, started, guest.as_ref(), printer);
    if opts.create_build_log && matches!(finished.ending, Ending::Done) {
        append_build_log(Path::new(BUILD_LOG), &prepared)?;
    }
    let status = finished.status("build", printer)?;
    if opts.test && status == ExitStatus::Success {
        let test = crate::driver::test::TestOptions::after_build(&opts);
        return crate::driver::test::run_prepared(&prepared, &test, printer);
    }
    Ok(status)
}

/// Files named by a flag are the user's secrets (or trust anchors): never a step's to read.
fn secrets(opts: &BuildOptions) -> Vec<PathBuf> {
    let mut secrets = opts.plan.env_files.clone();
    secrets.extend(opts.signing_key.clone());
    secrets.extend(opts.session.ca_bundle.clone());
    secrets
}

/// After the steps: the cache report and the summary line, or where the failed build's
/// workspace is.
fn report(
    finished: &Finished,
    prepared: &Prepared,
    started: Instant,
    guest: Option<&GuestRoot>,
    printer: Printer,
) {
    match (&finished.ending, &finished.kept) {
        (Ending::Done, _) => {
            let wanted = prepared.plan.packages.iter().flat_map(|p| p.fetches.iter());
            if let Some(before) = &finished.cache_before {
                let report = cache::summarize(before, &finished.cache_after);
                for line in report.with_fetch_sources(wanted.cloned()).render_lines() {
                    printer.info(line);
                }
            }
            let root = guest.map_or_else(|| "host root".to_string(), GuestRoot::describe);
            printer.info(format!(
                "built {} package(s) for {} in {} ({root})",
                prepared.plan.packages.len(),
                prepared.arch.apk,
                format_duration(started.elapsed())
            ));
        }
        (Ending::Failed(_), Some(path)) => {
            printer.info(format!("workspace kept for inspection: {}", path.display()));
        }
        _ => {}
    }
}

/// Each package's steps in its turn, then (all done) the packages.
fn run_steps(
    session: &Session,
    runner: &StepRunner<'_>,
    prepared: &Prepared,
    packager: Option<&Packager>,
) -> eyre::Result<Ending> {
    for package in &prepared.plan.packages {
        session.workspace.make_destdir(&package.name)?;
        session.host.hand_over_destdirs(&session.workspace)?;
        match runner.run_package(package)? {
            PackageOutcome::Done => {}
            PackageOutcome::Failed(failure) => {
                report_failure(&failure, session.printer);
                return Ok(Ending::Failed(failure.to_string()));
            }
            PackageOutcome::Interrupted(sig) => return Ok(Ending::Interrupted(sig)),
        }
    }
    restore_workspace_mode(&session.workspace, session.printer)?;
    if let Some(packager) = packager {
        let config = &prepared.loaded.config;
        let (plan, workspace) = (&prepared.plan, &session.workspace);
        if let Some(failure) = packager.lint_all(config, plan, workspace, session.printer)? {
            return Ok(Ending::Failed(failure));
        }
        packager.write_all(config, plan, workspace, session.printer)?;
    }
    Ok(Ending::Done)
}

/// `--dry-run`: the output is a script. Each package's destdir is made at its turn, as in a
/// real build, and the workspace the commands bind is kept so they can be run later.
fn dry_run(
    session: Session,
    sandbox: &Sandbox,
    prepared: &Prepared,
    deadline: Option<Instant>,
    guest: Option<&GuestRoot>,
) -> eyre::Result<ExitStatus> {
    let mut session = session;
    // The guest's layers are kept for the printed commands, like the workspace.
    let layers = match session.host.overlay.take() {
        Some(l) => Some(l.keep(session.host.identity)?),
        None => None,
    };
    let runner = session.runner(sandbox, prepared.plan.environment.clone(), deadline);
    if let Some(note) = runner.dry_run_note() {
        println!("{note}");
    }
    if let (Some(guest), Some(layers)) = (guest, &layers) {
        println!(
            "{}",
            crate::session::root::dry_run_assembly(
                guest,
                &session.options,
                &prepared.loaded.path,
                prepared.arch.apk,
                session.host.identity,
                layers,
            )
        );
    }
    for package in &prepared.plan.packages {
        let destdir = session.workspace.destdir(&package.name);
        println!(
            "{}mkdir -p {}",
            runner.dry_run_prefix(),
            shell_words::quote(&destdir.to_string_lossy())
        );
        runner.print_dry_run(package)?;
    }
    drop(runner);
    let printer = session.printer;
    if let Some(path) = session.workspace.finish(false)? {
        printer.info(format!(
            "dry run: nothing ran; the printed commands use the workspace {}, kept for them \
             (remove it when done)",
            path.display()
        ));
    }
    if let Some(layers) = layers {
        printer.info(format!(
            "dry run: the guest's writable layers {} are kept for the printed commands \
             (remove them when done)",
            layers.display()
        ));
    }
    Ok(ExitStatus::Success)
}

/// The packager, checked (signing key, writable out dir) before any step runs.
fn packager(
    opts: &BuildOptions,
    prepared: &Prepared,
    host: &SandboxHost,
    config_dir: &Path,
) -> eyre::Result<Packager> {
    let mut packager = Packager::new(
        &opts.session.out_dir,
        prepared.arch.apk,
        opts.signing_key.as_deref(),
        opts.generate_index,
        prepared.source_date_epoch,
        config_dir,
    )?;
    if let Identity::Root(ids) = host.identity {
        packager.step_ids = Some(ids);
    }
    if let Some(file) = &opts.dependency_log {
        packager.set_dependency_log(file)?;
    }
    packager.lint = opts.lint.clone();
    packager.set_provenance(&opts.provenance, &prepared.loaded.path);
    Ok(packager)
}

/// Whether the plan points `GOMODCACHE` at the cache dir itself (the cache doc's
/// `--cache-dir "$(go env GOMODCACHE)"` example).
fn module_cache_is_root(env: &std::collections::BTreeMap<String, String>) -> bool {
    env.get("GOMODCACHE")
        .is_some_and(|v| crate::guest::env::is_cache_root(v))
}

/// melange's `--create-build-log` file, in the current directory.
const BUILD_LOG: &str = "packages.log";

/// Append `ARCH|ORIGIN|NAME|VERSION-rEPOCH` for each package built, melange's format
/// (`pkg/build/package.go`, `AppendBuildLog`): the origin is the main package.
fn append_build_log(path: &Path, prepared: &Prepared) -> eyre::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let origin = &prepared.loaded.config.package;
    let mut text = String::new();
    for package in &prepared.plan.packages {
        text.push_str(&format!(
            "{}|{}|{}|{}-r{}\n",
            prepared.arch.apk, origin.name, package.name, origin.version, origin.epoch
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| eyre::eyre!("--create-build-log: cannot open {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| eyre::eyre!("--create-build-log: cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// The build file's directory (`.` for a bare file name).
fn config_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// melwrap does not install `environment.contents.packages`: the guest root is the host's
/// (or the user's rootfs). Say so once, so a missing tool is not a mystery.
fn note_uninstalled_packages(plan: &Plan, loaded: &LoadedConfig, printer: Printer) {
    let mut wanted: Vec<String> = loaded.config.environment.contents.packages.clone();
    for package in &plan.packages {
        wanted.extend(package.needs.iter().cloned());
    }
    wanted.sort();
    wanted.dedup();
    if !wanted.is_empty() {
        printer.detail(format!(
            "note: melwrap does not install environment packages; the steps use the guest root's \
             tools ({})",
            wanted.join(", ")
        ));
    }
}
