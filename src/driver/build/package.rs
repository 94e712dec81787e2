//! The last stage of a build: each package's destdir becomes an `.apk`, then the index.
//! Everything that can fail on bad input (the signing key, the output directory) is checked by
//! [`Packager::new`] before any step runs.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use crate::apk::{self, BuildInfo, PackageFile, Signer};
use crate::compile::{PackagePlan, Plan};
use crate::config::model::Configuration;
use crate::diag::Diagnostic;
use crate::printer::Printer;
use crate::safefs::{self, Dir};
use crate::sandbox::BuildIds;
use crate::sca;
use crate::workspace::Workspace;

/// What the packaging stage needs, prepared before the build starts.
pub struct Packager {
    signer: Option<Signer>,
    arch_dir: PathBuf,
    out_dir: PathBuf,
    generate_index: bool,
    info: BuildInfo,
    /// The host ids steps ran as when they are not the invoking user's (root builds: the
    /// build ids), recorded as root in the packages like the invoking user's own.
    pub step_ids: Option<BuildIds>,
    /// `--dependency-log FILE`: what dependency scanning found goes to `FILE.<arch>`.
    pub dependency_log: Option<PathBuf>,
    /// The linter flags.
    pub lint: crate::lint::LintOptions,
    /// Where the build file came from, for the SBOMs (see [`Packager::set_provenance`]).
    config_source: crate::sbom::ConfigSource,
}

impl Packager {
    /// Load the signing key and make sure `<out>/<arch>` can be written.
    pub fn new(
        out_dir: &Path,
        arch: &str,
        signing_key: Option<&Path>,
        generate_index: bool,
        builddate: u64,
        config_dir: &Path,
    ) -> eyre::Result<Packager> {
        let signer = signing_key.map(Signer::from_pem_file).transpose()?;
        let arch_dir = out_dir.join(arch);
        fs_err::create_dir_all(&arch_dir).map_err(|e| {
            Diagnostic::new(
                &arch_dir,
                format!("cannot create the output directory: {e}"),
            )
            .hint("pass a writable directory with `--out-dir`")
        })?;
        probe_writable(&arch_dir)?;
        Ok(Packager {
            signer,
            arch_dir,
            out_dir: out_dir.to_path_buf(),
            generate_index,
            info: BuildInfo {
                arch: arch.to_string(),
                builddate,
                namespace: "unknown".to_string(),
                git_commit: crate::sbom::git::detect(config_dir)
                    .and_then(|s| s.commit)
                    .unwrap_or_else(|| "unknown".to_string()),
                strip_origin_name: false,
            },
            step_ids: None,
            dependency_log: None,
            lint: crate::lint::LintOptions::default(),
            config_source: crate::sbom::Provenance::default()
                .resolve(&config_dir.join("melange.yaml")),
        })
    }

    /// Record dependency scanning in `FILE.<arch>` (`--dependency-log FILE`): its directory
    /// must exist and be writable, checked now so a typo fails before any step runs.
    pub fn set_dependency_log(&mut self, file: &Path) -> eyre::Result<()> {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if file.file_name().is_none() || !dir.is_dir() {
            return Err(Diagnostic::new(
                file,
                "cannot write the dependency log here: its directory does not exist",
            )
            .hint("pass `--dependency-log` a file name in an existing directory")
            .into());
        }
        probe_writable(dir)
            .map_err(|d| d.hint("pass `--dependency-log` a file name in a writable directory"))?;
        self.dependency_log = Some(file.to_path_buf());
        Ok(())
    }

    /// `--git-repo-url`, `--git-commit`, `--license`, `--namespace`: the commit (given, else
    /// HEAD of the build file's repository, else `unknown`) and namespace reach `.PKGINFO`
    /// (`commit` when the config sets none, `maintainer`) and every SBOM.
    pub fn set_provenance(&mut self, provenance: &crate::sbom::Provenance, config_file: &Path) {
        self.config_source = provenance.resolve(config_file);
        self.info.git_commit = self.config_source.commit.clone();
        self.info.namespace = provenance.namespace.clone();
    }

    /// Runs the linters over every package's destdir before any package is written. Returns
    /// why the build fails when a required linter found something.
    pub fn lint_all(
        &self,
        config: &Configuration,
        plan: &Plan,
        workspace: &Workspace,
        printer: Printer,
    ) -> eyre::Result<Option<String>> {
        let root = Dir::open_anchor(workspace.root())?;
        let full_version = format!("{}-r{}", config.package.version, config.package.epoch);
        let mut outcome = crate::lint::Outcome::default();
        // One destdir open at a time: a config can have hundreds of (range) subpackages.
        for package in &plan.packages {
            let dir = open_destdir(&root, &package.name)?;
            let target = [(&dir, lint_target(plan, package, &full_version))];
            let one = crate::lint::lint_packages(&target, &self.lint, &self.arch_dir, printer)?;
            outcome.findings.extend(one.findings);
        }
        Ok(outcome.failure())
    }

    /// Write every package of the plan, then update the index.
    pub fn write_all(
        &self,
        config: &Configuration,
        plan: &Plan,
        workspace: &Workspace,
        printer: Printer,
    ) -> eyre::Result<Vec<PackageFile>> {
        let mut written = Vec::new();
        // melange embeds its compiled configuration as `.melange.yaml`; melwrap embeds the
        // configuration as loaded (see docs/differences.md).
        let origin = &config.package;
        let value = serde_yaml::to_value(config).wrap_err("cannot serialize the config")?;
        let embedded =
            serde_yaml::to_string(&without_empty(value)).wrap_err("cannot serialize the config")?;
        // A step may have replaced `melange-out` or a package dir with a symlink (to `/etc`,
        // or the user's `~/.ssh`): each destdir is opened below the workspace root, which
        // melwrap created, without following any symlink, and read through descriptors.
        let root = Dir::open_anchor(workspace.root())?;
        // Every package's tree first: a package's scan looks into its siblings (a `-dev`
        // package's `libfoo.so` link names the library package's file).
        let trees = plan
            .packages
            .iter()
            .map(|p| {
                sca::PackageTree::new(&p.name, open_destdir(&root, &p.name)?)
                    .wrap_err_with(|| format!("cannot write the package for `{}`", p.name))
            })
            .collect::<eyre::Result<Vec<_>>>()?;
        let mut log = sca::DependencyLog::new(&self.info.arch);
        for (i, package) in plan.packages.iter().enumerate() {
            let mut meta = apk::meta_for(origin, package, &self.info);
            meta.melange_yaml = Some(embedded.clone().into_bytes());
            let options = &package.metadata.options;
            let generated = sca::analyze(&sca::Request {
                trees: &trees,
                index: i,
                version: meta.full_version(),
                options: options.clone(),
                base_runtime: &package.metadata.dependencies.runtime,
            })
            .wrap_err_with(|| format!("cannot scan the dependencies of `{}`", package.name))?;
            sca::apply(&mut meta, &generated);
            printer.detail(format!(
                "{}: dependency scanning generated {} depend(s), {} provide(s), {} vendored",
                package.name,
                generated.runtime.len(),
                generated.provides.len(),
                generated.vendored.len()
            ));
            log.record(&meta, sca::options_in_effect(options), &generated);
            let destdir = open_destdir(&root, &package.name)?;
            let sbom = self.sbom_input(config, plan, package, &meta);
            crate::sbom::write_into(&destdir, &sbom)
                .wrap_err_with(|| format!("cannot write the SBOM of `{}`", package.name))?;
            let mut opts = apk::DataOptions::default();
            if let Some(ids) = self.step_ids {
                // Inside the sandbox these ids are uid/gid 0, melange's root.
                opts.uid_map.insert(ids.uid, 0);
                opts.gid_map.insert(ids.gid, 0);
            }
            if i == 0 {
                // melange applies only `package.setcap`, to the main package (semantics 1.6).
                opts.xattrs = apk::setcap::xattrs(&origin.setcap);
            }
            let file = apk::write_package_from(
                &destdir,
                &meta,
                &self.out_dir,
                self.signer.as_ref(),
                &opts,
            )
            .wrap_err_with(|| format!("cannot write the package for `{}`", package.name))?;
            printer.info(format!(
                "wrote {} ({} bytes)",
                file.path.display(),
                file.file_size
            ));
            written.push(file);
        }
        if let Some(file) = &self.dependency_log {
            let path = log.write(file)?;
            printer.detail(format!("wrote the dependency log {}", path.display()));
        }
        if self.generate_index {
            apk::update_index(&self.arch_dir, &written, self.signer.as_ref())
                .wrap_err("cannot update APKINDEX.tar.gz")?;
            printer.detail(format!(
                "updated {}",
                self.arch_dir.join("APKINDEX.tar.gz").display()
            ));
        }
        Ok(written)
    }
}

impl Packager {
    /// The SBOM of one package: its own top-level sources (a subpackage's), then the main
    /// package's, as melange lists them.
    fn sbom_input<'a>(
        &'a self,
        config: &'a Configuration,
        plan: &'a Plan,
        package: &'a PackagePlan,
        meta: &apk::PackageMeta,
    ) -> crate::sbom::SbomInput<'a> {
        let main = &plan.packages[0];
        let mut sources: Vec<&crate::compile::SourceStep> = package.sources.iter().collect();
        if !std::ptr::eq(main, package) {
            sources.extend(main.sources.iter());
        }
        crate::sbom::SbomInput {
            name: &package.name,
            full_version: meta.full_version(),
            arch: &self.info.arch,
            namespace: &self.info.namespace,
            licenses: &package.metadata.licenses,
            attestations: config
                .package
                .copyright
                .iter()
                .map(|c| c.attestation.clone())
                .filter(|a| !a.is_empty())
                .collect(),
            source_date_epoch: self.info.builddate,
            config: &self.config_source,
            sources,
        }
    }
}

/// What the linters need to know about one package: its name, `checks.disabled`, and the
/// pipelines its tests use (`pkgconf` and `lddcheck` are satisfied by a test).
fn lint_target(plan: &Plan, package: &PackagePlan, full_version: &str) -> crate::lint::PackageLint {
    let test_uses = plan
        .tests
        .iter()
        .filter(|t| t.name == package.name)
        .flat_map(|t| t.steps.iter())
        .filter(|s| s.depth == 0)
        .filter_map(|s| s.uses.as_deref())
        .map(|u| u.split(" > ").next().unwrap_or(u).to_string())
        .collect();
    crate::lint::PackageLint {
        name: package.name.clone(),
        disabled: package.metadata.checks_disabled.clone(),
        test_uses,
        full_version: full_version.to_string(),
    }
}

/// Opens `melange-out/<name>` below the workspace root; a symlink on the way is an error
/// naming it.
fn open_destdir(root: &Dir, name: &str) -> eyre::Result<Dir> {
    let rel = Path::new(crate::guest::OUT_DIR_NAME).join(name);
    root.open_dir(&rel).map_err(|e| {
        let context = format!("cannot package `{name}`");
        if safefs::is_link_refused(&e) {
            apk::walk::link_refused(&e).wrap_err(context)
        } else {
            eyre::Report::new(e).wrap_err(context)
        }
    })
}

/// Drop empty strings, lists and maps (fields the config did not set), so `.melange.yaml`
/// reads like the config rather than a dump of every default.
fn without_empty(value: serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value;
    let is_empty = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        Value::Mapping(map) => map.is_empty(),
        _ => false,
    };
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(k, v)| (k, without_empty(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(without_empty).collect()),
        other => other,
    }
}

fn probe_writable(dir: &Path) -> Result<(), Diagnostic> {
    tempfile::Builder::new()
        .prefix(".melwrap-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            Diagnostic::new(dir, format!("the output directory is not writable: {e}"))
                .hint("pass a writable directory with `--out-dir`")
        })
}
