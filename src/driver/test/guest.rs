//! Test guests: each tested package's steps run in a guest assembled (once, then cached) from
//! its `test.environment.contents.packages`, the package under test (pinned to the version in
//! the out dir) and whatever those depend on at run time, resolved from the out dir used as a
//! local repository, the config's repositories (the test environment's, then the build
//! environment's) and `--repository-append`; `--test-package-append` adds packages to every
//! test guest. The assembly and the cache are the build's ([`crate::session::root`]).
//!
//! The out dir is trusted as the user's own output when its index is unsigned; a signed
//! index is checked against the keyring (the config's, `--keyring-append`, and for
//! `build --test` the public half of `--signing-key`).

use std::path::Path;

use color_eyre::eyre;

use crate::compile::TestPlan;
use crate::config::model::{Configuration, ImageConfiguration, ImageContents};
use crate::inputs::Prepared;
use crate::printer::Printer;
use crate::repo::setup::bad;
use crate::sandbox::Rootfs;
use crate::session::accounts::StepAccounts;
use crate::session::root::{self, GuestRoot};
use crate::session::{SandboxHost, SessionOptions, absolute};

/// Do the tests run in guests? `--rootfs apk` always; `auto` when the config (build or any
/// test environment) or `--repository-append` names a repository; never for `host` or a
/// directory (the packages' files are then layered over that root, see `install`).
pub fn use_guests(options: &SessionOptions, config: &Configuration) -> bool {
    match options.rootfs.as_str() {
        "apk" => true,
        "auto" => {
            !config.environment.contents.repositories.is_empty()
                || !options.guest.repository_append.is_empty()
                || test_environments(config).any(|env| !env.contents.repositories.is_empty())
        }
        _ => false,
    }
}

/// Every test environment of the config (the main package's, then each subpackage's).
fn test_environments(config: &Configuration) -> impl Iterator<Item = &ImageConfiguration> {
    config.test.iter().map(|t| &t.environment).chain(
        config
            .subpackages
            .iter()
            .filter_map(|sp| sp.test.as_ref().map(|t| &t.environment)),
    )
}

/// The contents a test's guest is assembled from: the test environment's repositories and
/// keys, then the build environment's; the test's packages with the package under test
/// pinned to `name=version`.
pub fn test_contents(config: &Configuration, test: &TestPlan, version: &str) -> ImageContents {
    let env = &test.written_environment;
    let build = &config.environment.contents;
    let union = |a: &[String], b: &[String]| {
        let mut out: Vec<String> = Vec::new();
        for x in a.iter().chain(b) {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        out
    };
    let packages = test
        .packages
        .iter()
        .map(|p| match p == &test.name {
            true => format!("{p}={version}"),
            false => p.clone(),
        })
        .collect();
    ImageContents {
        repositories: union(&env.contents.repositories, &build.repositories),
        keyring: union(&env.contents.keyring, &build.keyring),
        packages,
        ..ImageContents::default()
    }
}

/// Find or assemble the guest of `test` (see the module doc) and point `host` at it.
pub fn choose_for_test(
    host: &mut SandboxHost,
    options: &SessionOptions,
    prepared: &Prepared,
    test: &TestPlan,
    version: &str,
    printer: Printer,
) -> eyre::Result<GuestRoot> {
    let out_dir = absolute(&options.out_dir, "--out-dir")?;
    let index = out_dir
        .as_path()
        .join(prepared.arch.apk)
        .join("APKINDEX.tar.gz");
    if !index.is_file() {
        return Err(bad(format!(
            "--out-dir: {} does not exist: the tests' guests install the built packages from the \
             out dir as a repository; build with the index (melwrap build writes it unless \
             --generate-index=false) or run `melwrap index`",
            index.display()
        )));
    }
    let location = out_dir.as_path().display().to_string();
    let mut options = options.clone();
    options.rootfs = "apk".into();
    let guest = &mut options.guest;
    let canonical = |p: &str| std::fs::canonicalize(p.strip_prefix("file://").unwrap_or(p)).ok();
    let named_already = guest
        .repository_append
        .iter()
        .any(|r| canonical(r).is_some() && canonical(r) == canonical(&location));
    if !named_already {
        guest.repository_append.insert(0, location.clone());
    }
    guest.own_unsigned.push(location);
    guest.package_append = guest.test_package_append.clone();
    let contents = test_contents(&prepared.loaded.config, test, version);
    root::choose(host, &options, &contents, prepared.arch.apk, printer)?
        .ok_or_else(|| bad(format!("no guest for the test of `{}`", test.name)))
}

/// The root a job's sandbox shows: the guest's directory, else the session's root.
pub fn job_rootfs(guest: Option<&GuestRoot>, session_root: &Rootfs) -> eyre::Result<Rootfs> {
    match guest {
        Some(g) => Ok(Rootfs::Dir(absolute(Path::new(&g.dir), "guest")?)),
        None => Ok(session_root.clone()),
    }
}

/// Where one job's steps run: its guest (and the host facts pointing at it), or the
/// session's root with the packages layered over it; and who they run as.
pub struct JobRoot {
    pub guest: Option<(GuestRoot, SandboxHost)>,
    pub accounts: StepAccounts,
}

/// Each job's root and accounts, before anything is created: in guests, each test's guest is
/// found or assembled (`guest`); otherwise the session's root (`--rootfs host` or a
/// directory, or `auto` when no repository is named, said so).
pub fn job_roots(
    host: &mut SandboxHost,
    options: &SessionOptions,
    prepared: &Prepared,
    tests: &[&TestPlan],
    in_guests: bool,
    printer: Printer,
) -> eyre::Result<Vec<JobRoot>> {
    let config = &prepared.loaded.config;
    if !in_guests {
        let contents = &config.environment.contents;
        if let Some(g) =
            crate::session::root::choose(host, options, contents, prepared.arch.apk, printer)?
        {
            printer.info(format!("tests run in the {}", g.describe()));
        }
    }
    let session_root = host.rootfs.clone();
    let mut roots = Vec::new();
    for test in tests {
        let guest = match in_guests {
            true => {
                let version = package_version(prepared, test);
                let g = choose_for_test(host, options, prepared, test, &version, printer)?;
                printer.info(format!("`{}` is tested in the {}", test.name, g.describe()));
                if !crate::sandbox::prepare::has_shell(&host.rootfs) {
                    return Err(bad(format!(
                        "the guest for the test of `{}` has no /bin/sh: as in melange, a test's \
                         guest holds only its test.environment.contents.packages, the package \
                         under test and their runtime dependencies; name a shell package \
                         (busybox, say) there or with --test-package-append",
                        test.name
                    )));
                }
                // The job takes the guest's root and its writable layers; the session's host
                // goes back to the session's root for the next job.
                let job_host = SandboxHost {
                    bwrap: host.bwrap.clone(),
                    rootfs: std::mem::replace(&mut host.rootfs, session_root.clone()),
                    ca_bundle: host.ca_bundle.clone(),
                    identity: host.identity,
                    resources: host.resources,
                    overlay: host.overlay.take(),
                };
                Some((g, job_host))
            }
            false => None,
        };
        let rootfs = job_rootfs(guest.as_ref().map(|(g, _)| g), &session_root)?;
        let accounts = StepAccounts::prepare(
            &format!("{}.accounts", test.environment_field),
            &test.written_environment.accounts,
            &config.capabilities,
            &rootfs,
            &host.bwrap.path,
        )?;
        printer.detail(format!("`{}`: {}", test.name, accounts.describe()));
        roots.push(JobRoot { guest, accounts });
    }
    Ok(roots)
}

/// `<version>-r<epoch>` of the package under `test`, exactly as the packager writes it.
pub fn package_version(prepared: &Prepared, test: &TestPlan) -> String {
    let info = crate::apk::BuildInfo {
        arch: prepared.arch.apk.to_string(),
        ..Default::default()
    };
    let origin = &prepared.loaded.config.package;
    match prepared.plan.packages.iter().find(|p| p.name == test.name) {
        Some(package) => crate::apk::meta_for(origin, package, &info).full_version(),
        None => format!("{}-r{}", origin.version, origin.epoch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Configuration {
        crate::config::load::decode_only(Path::new("m.yaml"), text)
            .unwrap()
            .config
    }

    const CONFIG: &str = "package:\n  name: greeter\n  version: 1\nenvironment:\n  contents:\n    repositories: [https://b]\n    keyring: [k.pub]\nsubpackages:\n  - name: greeter-english\n    test:\n      environment:\n        contents:\n          repositories: [https://t, https://b]\n        accounts:\n          run-as: build\n      pipeline:\n        - runs: hello\n";

    #[test]
    fn a_subpackage_test_guest_has_its_repositories_first_and_the_package_pinned() {
        let cfg = config(CONFIG);
        let test = TestPlan {
            name: "greeter-english".into(),
            environment: Default::default(),
            packages: vec!["busybox".into(), "greeter-english".into()],
            steps: Vec::new(),
            environment_field: "subpackages[0].test.environment".into(),
            written_environment: cfg.subpackages[0]
                .test
                .as_ref()
                .unwrap()
                .environment
                .clone(),
        };
        let c = test_contents(&cfg, &test, "1-r0");
        assert_eq!(c.repositories, vec!["https://t", "https://b"]);
        assert_eq!(c.keyring, vec!["k.pub"]);
        assert_eq!(c.packages, vec!["busybox", "greeter-english=1-r0"]);
    }

    #[test]
    fn guests_when_a_repository_is_named_or_apk_is_asked() {
        let cfg = config(CONFIG);
        let mut o = SessionOptions {
            rootfs: "auto".into(),
            ..SessionOptions::default()
        };
        assert!(use_guests(&o, &cfg));
        let bare = config("package:\n  name: p\n  version: 1\n");
        assert!(!use_guests(&o, &bare));
        o.guest.repository_append.push("./packages".into());
        assert!(use_guests(&o, &bare));
        o.rootfs = "host".into();
        assert!(!use_guests(&o, &cfg));
        o.rootfs = "apk".into();
        assert!(use_guests(&o, &bare));
    }
}
