//! Package linters, with melange's names, explanations and defaults (`pkg/linter/linter.go`).
//!
//! Each linter looks at one package's file list (the destdir walk of [`crate::apk::walk`],
//! read through descriptors) and, for a few, at file contents opened through that walk. A
//! linter is *required* (a finding fails the build before any `.apk` is written), a
//! *warning* (printed), or off. `--lint-require` and `--lint-warn` choose the lists; a
//! package's `checks.disabled` moves a linter from required to warning for that package, as
//! melange does.
//!
//! | file | owns |
//! |---|---|
//! | `mod` | the registry: names, explanations, defaults |
//! | `linters` | the checks themselves |
//! | `elf` | the bounded ELF reader `strip` and `binaryarch` use |
//! | `run` | policy, running the linters over a build's destdirs, output, `--persist-lint-results` |

pub mod elf;
mod linters;
mod run;

pub use run::{
    Finding, LintOptions, Outcome, PackageLint, Severity, lint_destdir, lint_packages,
    unknown_hint, unknown_linter,
};

use linters::Subject;

/// What a linter does when no flag says otherwise (melange's `defaultBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultLevel {
    Ignore,
    Require,
    Warn,
}

type Check = fn(&mut Subject<'_>) -> std::io::Result<Option<Found>>;

/// What a linter found: melange's message and the paths it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub message: String,
    pub paths: Vec<String>,
}

/// One linter.
pub struct Linter {
    pub name: &'static str,
    pub explain: &'static str,
    pub default: DefaultLevel,
    check: Check,
}

use DefaultLevel::{Ignore, Require, Warn};

/// Every linter melange has, in melange's order of explanation.
pub static LINTERS: &[Linter] = &[
    Linter {
        name: "dev",
        explain: "If this package is creating /dev nodes, it should use udev instead; otherwise, remove any files in /dev",
        default: Require,
        check: linters::dev,
    },
    Linter {
        name: "documentation",
        explain: "Place documentation into a separate package or remove it",
        default: Ignore,
        check: linters::documentation,
    },
    Linter {
        name: "opt",
        explain: "This package should be a -compat package",
        default: Warn,
        check: linters::opt,
    },
    Linter {
        name: "object",
        explain: "This package contains intermediate object files (.o files)",
        default: Warn,
        check: linters::object,
    },
    Linter {
        name: "maninfo",
        explain: "Place documentation into a separate package or remove it",
        default: Warn,
        check: linters::maninfo,
    },
    Linter {
        name: "sbom",
        explain: "Remove any files in /var/lib/db/sbom from the package",
        default: Warn,
        check: linters::sbom,
    },
    Linter {
        name: "setuidgid",
        explain: "Unset the setuid/setgid bit on the relevant files, or remove this linter",
        default: Require,
        check: linters::setuidgid,
    },
    Linter {
        name: "srv",
        explain: "This package should be a -compat package",
        default: Warn,
        check: linters::srv,
    },
    Linter {
        name: "tempdir",
        explain: "Remove any offending files in temporary dirs in the pipeline, or add a /usr/lib/tmpfiles.d/ snippet in the case of dirs under /run/",
        default: Require,
        check: linters::tempdir,
    },
    Linter {
        name: "usrlocal",
        explain: "This package should be a -compat package",
        default: Warn,
        check: linters::usrlocal,
    },
    Linter {
        name: "varempty",
        explain: "Remove any offending files in /var/empty in the pipeline",
        default: Require,
        check: linters::varempty,
    },
    Linter {
        name: "worldwrite",
        explain: "Change the permissions of any permissive files in the package, disable the linter, or make this a -compat package",
        default: Require,
        check: linters::worldwrite,
    },
    Linter {
        name: "strip",
        explain: "Properly strip all binaries in the pipeline",
        default: Warn,
        check: linters::strip,
    },
    Linter {
        name: "infodir",
        explain: "Remove /usr/share/info/dir from the package (run split/infodir)",
        default: Require,
        check: linters::infodir,
    },
    Linter {
        name: "empty",
        explain: "Verify that this package is supposed to be empty; if it is, disable this linter; otherwise check the build",
        default: Ignore,
        check: linters::empty,
    },
    Linter {
        name: "python/docs",
        explain: "Remove all docs directories from the package",
        default: Warn,
        check: linters::python_docs,
    },
    Linter {
        name: "python/multiple",
        explain: "Split this package up into multiple packages and verify you are not improperly using pip install",
        default: Warn,
        check: linters::python_multiple,
    },
    Linter {
        name: "python/test",
        explain: "Remove all test directories from the package",
        default: Warn,
        check: linters::python_test,
    },
    Linter {
        name: "pkgconf",
        explain: "This package provides files in a pkgconfig directory, please add the pkgconf test pipeline",
        default: Warn,
        check: linters::pkgconf,
    },
    Linter {
        name: "lddcheck",
        explain: "This package provides shared object files, please add the ldd-check test pipeline",
        default: Warn,
        check: linters::lddcheck,
    },
    Linter {
        name: "usrmerge",
        explain: "Move binary to /usr/bin",
        default: Require,
        check: linters::usrmerge,
    },
    Linter {
        name: "cudaruntimelib",
        explain: "CUDA driver-specific libraries should be passed into the container by the host. Installing them in an image could override the host libraries and break GPU support. If this library is needed for build-time linking or ldd-check tests, please use a package containing a stub library instead. For libcuda.so, use nvidia-cuda-cudart-$cuda_version. For libnvidia-ml.so, use nvidia-cuda-nvml-dev-$cuda_version.",
        default: Warn,
        check: linters::cudaruntimelib,
    },
    Linter {
        name: "dll",
        explain: "This package contains Windows libraries",
        default: Warn,
        check: linters::dll,
    },
    Linter {
        name: "dylib",
        explain: "This package contains macOS libraries",
        default: Warn,
        check: linters::dylib,
    },
    Linter {
        name: "nonlinux",
        explain: "This package contains references to non-Linux paths",
        default: Warn,
        check: linters::nonlinux,
    },
    Linter {
        name: "unsupportedarch",
        explain: "This package contains references to unsupported architectures (only aarch64/arm64 and amd64/x86_64 are supported)",
        default: Warn,
        check: linters::unsupportedarch,
    },
    Linter {
        name: "binaryarch",
        explain: "This package contains binaries compiled for unsupported architectures (only aarch64/arm64 and amd64/x86_64 binaries are supported)",
        default: Warn,
        check: linters::binaryarch,
    },
    Linter {
        name: "staticarchive",
        explain: "This package contains static archives (.a files)",
        default: Warn,
        check: linters::staticarchive,
    },
    Linter {
        name: "libtool/la-files",
        explain: "Remove libtool archive (.la) files from the package, or disable this linter if they are required",
        default: Require,
        check: linters::la_files,
    },
    Linter {
        name: "duplicate",
        explain: "This package contains files with the same name and content in different directories (consider symlinking)",
        default: Warn,
        check: linters::duplicate,
    },
];

/// The linter called `name`.
pub fn find(name: &str) -> Option<&'static Linter> {
    LINTERS.iter().find(|l| l.name == name)
}

fn sorted_names(level: DefaultLevel) -> Vec<String> {
    let mut names: Vec<String> = LINTERS
        .iter()
        .filter(|l| l.default == level)
        .map(|l| l.name.to_string())
        .collect();
    names.sort();
    names
}

/// `--lint-require`'s default: melange's required linters, sorted.
pub fn default_required() -> Vec<String> {
    sorted_names(Require)
}

/// `--lint-warn`'s default: melange's warning linters, sorted.
pub fn default_warn() -> Vec<String> {
    sorted_names(Warn)
}

/// Every linter name, sorted (for "did you mean" and error hints).
pub fn all_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = LINTERS.iter().map(|l| l.name).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_melanges() {
        assert_eq!(
            default_required(),
            [
                "dev",
                "infodir",
                "libtool/la-files",
                "setuidgid",
                "tempdir",
                "usrmerge",
                "varempty",
                "worldwrite"
            ]
        );
        let warn = default_warn();
        for name in ["opt", "srv", "usrlocal", "object", "strip", "python/docs"] {
            assert!(warn.iter().any(|w| w == name), "{name}");
        }
        assert!(!warn.iter().any(|w| w == "empty" || w == "documentation"));
        assert_eq!(LINTERS.len(), 30);
        assert!(find("usrlocal").is_some() && find("nope").is_none());
    }
}
