//! `melwrap build`: the stages in order, on one screen.
//!
//! load → compile → probe bwrap → open and lock the cache → fill the workspace → run each
//! package's steps in the sandbox → write packages → report the cache → clean up.
//! Everything up to the first step is checked before anything runs, so bad input exits 2 with
//! nothing changed (semantics doc, section 9).

pub mod date;
pub mod dirs;
pub mod envfile;
mod package;
mod secure;
pub mod setup;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use color_eyre::eyre::{self, WrapErr};

use crate::cache;
use crate::cli::build::Args;
use crate::cli::shared::ConfigArgs;
use crate::cli::{ExitStatus, StatusError};
use crate::compile::{self, Arch, CompileOptions, Plan};
use crate::config::{self, LoadedConfig};
use crate::diag::Diagnostic;
use crate::pipelines::Library;
use crate::printer::{Printer, format_duration};
use crate::sandbox::run as sandbox_run;
use crate::workspace::Workspace;

pub use package::Packager;
pub use secure::{finish_workspace, restore_workspace_mode, scrub_cache};
pub use setup::{SandboxHost, open_cache, prepare_sandbox, report_failure, status_for_signal};
pub use steps::{PackageOutcome, StepFailure, StepRunner};

/// melange's default build-file names, tried in this order (`pkg/build/build.go`).
const DEFAULT_CONFIGS: &[&str] = &[
    ".melange.yaml",
    ".melange.yml",
    "melange.yaml",
    "melange.yml",
];

/// A build file loaded and compiled for one architecture: everything checked, nothing run.
pub struct Prepared {
    pub loaded: LoadedConfig,
    pub plan: Plan,
    pub arch: Arch,
    pub source_date_epoch: u64,
    pub timeout: Option<std::time::Duration>,
}

/// Find the build file: the argument, or melange's default names in the current directory.
pub fn find_config(arg: Option<&Path>) -> Result<PathBuf, Diagnostic> {
    if let Some(path) = arg {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIGS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Diagnostic::new(
                ".",
                "no build file given and none found in the current directory",
            )
            .hint(format!(
                "pass one (melwrap build foo.yaml) or create one of {}",
                DEFAULT_CONFIGS.join(", ")
            ))
        })
}

/// What [`prepare`] reads from the command line. `melwrap test` fills only `input` and
/// `arch`; the rest are `melwrap build`'s.
#[derive(Debug, Clone, Copy)]
pub struct PrepareArgs<'a> {
    pub input: &'a ConfigArgs,
    /// `host` or an architecture name.
    pub arch: &'a str,
    /// `--var KEY=VALUE`s.
    pub vars: &'a [String],
    pub build_options: &'a [String],
    pub build_date: Option<&'a str>,
    pub timeout: Option<&'a str>,
}

impl<'a> PrepareArgs<'a> {
    /// The config and architecture alone, every other option at its default.
    pub fn new(input: &'a ConfigArgs, arch: &'a str) -> Self {
        PrepareArgs {
            input,
            arch,
            vars: &[],
            build_options: &[],
            build_date: None,
            timeout: None,
        }
    }
}

impl<'a> From<&'a Args> for PrepareArgs<'a> {
    fn from(args: &'a Args) -> Self {
        PrepareArgs {
            vars: &args.vars,
            build_options: &args.build_options,
            build_date: args.build_date.as_deref(),
            timeout: args.timeout.as_deref(),
            ..PrepareArgs::new(&args.input, &args.arch)
        }
    }
}

/// Load and compile: every input problem is found here, before anything runs.
pub fn prepare(args: PrepareArgs<'_>, printer: Printer) -> eyre::Result<Option<Prepared>> {
    let path = find_config(args.input.config.as_deref())?;
    let loaded = config::load(&path)?;
    let arch = resolve_arch(args.arch)?;
    if Arch::host().is_some_and(|host| host.apk != arch.apk) {
        return Err(Diagnostic::new(
            "--arch",
            format!(
                "cannot build for {} on this {} machine: steps run natively, so they would \
                 produce host binaries labelled {}",
                arch.apk,
                std::env::consts::ARCH,
                arch.apk
            ),
        )
        .hint("build on a machine of that architecture; `melwrap compile --arch` shows its plan")
        .into());
    }

    let targets = &loaded.config.package.target_architecture;
    if !targets.is_empty() && !targets.iter().any(|t| t == "all" || t == arch.apk) {
        printer.warn(format!(
            "{}: package.target-architecture is [{}], which leaves out {}: nothing to build",
            path.display(),
            targets.join(", "),
            arch.apk
        ));
        return Ok(None);
    }
    let version = &loaded.config.package.version;
    if !config::rules::is_apk_version(version) {
        return Err(loaded
            .diagnostic(
                "package.version",
                format!("`{version}` is not a valid apk version"),
            )
            .hint("apk versions look like 1.2.3, 1.2.3_rc1 or 2024.01.02 (no leading `v`)")
            .into());
    }

    let mut env_files = Vec::new();
    for file in &args.input.env_files {
        env_files.push(envfile::read(file)?);
    }
    let source_date_epoch = date::source_date_epoch(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        args.build_date,
    )?;
    let opts = CompileOptions {
        arch: arch.apk.to_string(),
        vars: parse_vars(args.vars)?,
        build_options: args.build_options.to_vec(),
        source_date_epoch,
        env_files,
        host_libc: String::new(),
    };
    let lib = Library::new(args.input.pipeline_dirs.clone());
    let plan = compile::compile(&loaded, &lib, &opts)?;

    let timeout_text = args
        .timeout
        .map_or_else(|| loaded.config.package.timeout.clone(), str::to_string);
    let timeout = if timeout_text.is_empty() {
        None
    } else {
        let parsed = config::rules::parse_go_duration(&timeout_text).ok_or_else(|| {
            Diagnostic::new("--timeout", format!("`{timeout_text}` is not a duration"))
                .hint("write it like 90m, 2h or 1h30m")
        })?;
        Some(parsed).filter(|d| !d.is_zero())
    };
    Ok(Some(Prepared {
        loaded,
        plan,
        arch,
        source_date_epoch,
        timeout,
    }))
}

fn resolve_arch(arg: &str) -> Result<Arch, Diagnostic> {
    let arch = if arg == "host" {
        Arch::host()
    } else {
        Arch::parse(arg)
    };
    arch.ok_or_else(|| {
        Diagnostic::new("--arch", format!("unknown architecture `{arg}`")).hint(format!(
            "use one of: host, {}",
            compile::arch::names().join(", ")
        ))
    })
}

fn parse_vars(pairs: &[String]) -> Result<BTreeMap<String, String>, Diagnostic> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Diagnostic::new("--var", format!("expected KEY=VALUE, found `{pair}`"))
                })
        })
        .collect()
}

/// `melwrap build`.
pub fn run(args: Args, printer: Printer) -> eyre::Result<ExitStatus> {
    let Some(prepared) = prepare(PrepareArgs::from(&args), printer)? else {
        return Ok(ExitStatus::Success);
    };
    let started = Instant::now();
    let config_dir = prepared
        .loaded
        .path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let source_dir = args.source_dir.clone().unwrap_or(config_dir.clone());
    // Overlapping or system directories are refused before anything is created.
    dirs::check_run(&dirs::RunPaths {
        source: Some((&source_dir, args.source_dir.is_some())),
        cache: Some(&args.cache_dir),
        workspace: args.workspace_dir.as_deref(),
        out: Some(&args.out_dir),
        cache_source: args.cache_source.as_deref(),
        config: Some(&prepared.loaded.path),
        pipeline_dirs: &args.input.pipeline_dirs,
        env_files: &args.input.env_files,
        signing_key: args.signing_key.as_deref(),
        ca_bundle: args.sandbox.ca_bundle.as_deref(),
        rootfs: Some(Path::new(&args.rootfs)).filter(|r| *r != Path::new("host")),
        temporary_workspace: true,
    })?;

    // The sandbox: bwrap must work before anything is created.
    let host = SandboxHost::resolve(
        &args.rootfs,
        args.sandbox.ca_bundle.as_deref(),
        &args.sandbox.limits,
    )?;
    note_uninstalled_packages(&prepared.plan, &prepared.loaded, printer);
    let packager = if args.dry_run {
        None
    } else {
        Some(Packager::new(
            &args.out_dir,
            prepared.arch.apk,
            args.signing_key.as_deref(),
            args.generate_index,
            prepared.source_date_epoch,
            &config_dir,
        )?)
    };
    let packager = packager.map(|mut p| {
        if let crate::sandbox::Identity::Root(ids) = host.identity {
            p.step_ids = Some(ids);
        }
        p
    });

    // The cache: created when missing, locked for the whole build.
    let (cache, _lock) = open_cache(&args.cache_dir, args.cache_source.as_ref(), printer)?;
    let before = cache::snapshot(&cache);
    // Restored after the steps when a step changed it (see `scrub_cache`).
    let cache_mode = cache.mode().wrap_err("cannot read the cache dir's mode")?;

    // The workspace: a copy of the sources at /home/build.
    let workspace = Workspace::create(args.workspace_dir.as_deref(), prepared.arch.apk)?;
    let mut exclude = vec![cache.path().to_path_buf(), args.out_dir.clone()];
    exclude.extend(args.workspace_dir.clone());
    exclude.extend(args.cache_source.clone());
    // Files named by a flag are the user's secrets (or trust anchors): never a step's to read.
    let mut secrets = args.input.env_files.clone();
    secrets.extend(args.signing_key.clone());
    secrets.extend(args.sandbox.ca_bundle.clone());
    let copied = workspace.populate(&source_dir, &exclude, &secrets)?;
    printer.detail(format!(
        "workspace {}: {} files ({} bytes) from {}",
        workspace.root().display(),
        copied.files,
        copied.bytes,
        source_dir.display()
    ));
    note_withheld(&copied.withheld, printer);
    cache
        .prepare_link_targets()
        .wrap_err("cannot prepare the cache's link targets")?;
    cache::install_home_links(workspace.dir())
        .wrap_err("cannot link ~/.m2 and ~/.cargo into the cache")?;
    host.hand_over_cache(&cache, args.cache_source.is_some(), printer)?;
    host.hand_over_workspace(&workspace)?;

    let sandbox = prepare_sandbox(host.config(&workspace, &cache, !args.sandbox.no_network)?)?;

    let runner = StepRunner {
        sandbox: &sandbox,
        bwrap: &host.bwrap.path,
        printer,
        base_env: base_environment(&prepared.plan),
        debug: args.debug,
        interactive: args.sandbox.interactive,
        deadline: prepared.timeout.map(|t| Instant::now() + t),
    };

    if args.dry_run {
        // The output is a script: each package's destdir is made at its turn, as in a real
        // build, and the workspace the commands bind is kept so they can be run later.
        if let Some(note) = runner.dry_run_note() {
            println!("{note}");
        }
        for package in &prepared.plan.packages {
            let destdir = workspace.destdir(&package.name);
            println!(
                "{}mkdir -p {}",
                runner.dry_run_prefix(),
                shell_words::quote(&destdir.to_string_lossy())
            );
            runner.print_dry_run(package)?;
        }
        if let Some(path) = workspace.finish(false)? {
            printer.info(format!(
                "dry run: nothing ran; the printed commands use the workspace {}, kept for them \
                 (remove it when done)",
                path.display()
            ));
        }
        return Ok(ExitStatus::Success);
    }

    sandbox_run::install_signal_handlers();
    // Once a step may have run, every way out scrubs the cache and secures a kept workspace:
    // an error here (a destdir a step replaced with a link, a packaging failure) included.
    let steps = (|| -> eyre::Result<PackageOutcome> {
        for package in &prepared.plan.packages {
            workspace.make_destdir(&package.name)?;
            host.hand_over_destdirs(&workspace)?;
            match runner.run_package(package)? {
                PackageOutcome::Done => {}
                stopped => return Ok(stopped),
            }
        }
        restore_workspace_mode(&workspace, printer)?;
        if let Some(packager) = &packager {
            packager.write_all(&prepared.loaded.config, &prepared.plan, &workspace, printer)?;
        }
        Ok(PackageOutcome::Done)
    })();
    match steps {
        Ok(PackageOutcome::Done) => {}
        Ok(PackageOutcome::Failed(failure)) => {
            scrub_cache(&cache, cache_mode, printer)?;
            report_failure(&failure, printer);
            if let Some(path) = finish_workspace(workspace, false, printer)? {
                printer.info(format!("workspace kept for inspection: {}", path.display()));
            }
            return Err(StatusError(ExitStatus::Failure, failure.to_string()).into());
        }
        Ok(PackageOutcome::Interrupted(sig)) => {
            scrub_cache(&cache, cache_mode, printer)?;
            printer.warn(format!(
                "interrupted by {}: stopping the build",
                sandbox_run::signal_name(sig)
            ));
            // The workspace is only a copy; an interrupted build leaves nothing behind.
            finish_workspace(workspace, true, printer)?;
            return Ok(status_for_signal(sig));
        }
        Err(e) => {
            if let Err(scrub) = scrub_cache(&cache, cache_mode, printer) {
                printer.warn(format!("{scrub:#}"));
            }
            match finish_workspace(workspace, false, printer) {
                Ok(Some(path)) => {
                    printer.info(format!("workspace kept for inspection: {}", path.display()));
                }
                Ok(None) => {}
                Err(secure) => printer.warn(format!("{secure:#}")),
            }
            return Err(e);
        }
    }

    let scan = scrub_cache(&cache, cache_mode, printer)?;
    let after = cache::Snapshot::from_scan(cache.path().to_path_buf(), &scan);
    let wanted = prepared.plan.packages.iter().flat_map(|p| p.fetches.iter());
    let report = cache::summarize(&before, &after).with_fetch_sources(wanted.cloned());
    printer.info(report.render_line());

    finish_workspace(workspace, true, printer)?;
    printer.info(format!(
        "built {} package(s) for {} in {}",
        prepared.plan.packages.len(),
        prepared.arch.apk,
        format_duration(started.elapsed())
    ));
    if args.test {
        let opts = crate::test_run::TestOptions::from_build(&args);
        return crate::test_run::run(&prepared, &opts, printer);
    }
    Ok(ExitStatus::Success)
}

/// Say which secrets of the source dir were left out of the workspace, so a step that misses
/// one is not a mystery.
pub fn note_withheld(withheld: &[PathBuf], printer: Printer) {
    if withheld.is_empty() {
        return;
    }
    let names: Vec<String> = withheld.iter().map(|p| p.display().to_string()).collect();
    printer.info(format!(
        "not copied into the workspace (keys and files named by flags): {}",
        names.join(", ")
    ));
}

/// Layers 1 and 2 of a step's environment: the plan's, plus melwrap's extra cache defaults
/// where the config left a variable missing or empty (melange's own rule for its defaults).
fn base_environment(plan: &Plan) -> BTreeMap<String, String> {
    let mut env = plan.environment.clone();
    compile::env::fill_defaults(&mut env, &cache::default_env());
    env
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
