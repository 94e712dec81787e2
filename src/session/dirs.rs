//! The directories and files a run is given, checked before anything runs or is created.
//!
//! A step can write two host trees: the cache (bound read-write at /var/cache/melange) and the
//! workspace (bound at /home/build). Whatever melwrap trusts must stay out of them: the sources
//! and build file (a step would rewrite them for the next build), the out dir (a step would
//! plant packages that land in the signed index), the seed of `--cache-source`, pipeline
//! definitions, env files, keys and the CA bundle. The two trees must not overlap each other
//! either, nor sit in the out dir (their files would be published) or in `--cache-source` (they
//! would be preloaded into themselves). Sources may hold the cache, out and workspace dirs (the
//! defaults `./melange-cache` and `./packages` usually do): those are never copied.
//!
//! System directories and the user's home are refused as any of these directories: the cache
//! and workspace become step-writable (and are set-id scrubbed), the out dir gets files
//! renamed into it, and a source dir or seed there would copy `/etc/shadow` or `~/.ssh` into
//! trees steps read.
//!
//! Paths are compared after resolving symbolic links: what exists is canonicalized; for what
//! does not, the nearest existing ancestor is, and the rest is appended (a dangling link is
//! followed to its target, as `realpath -m` does).

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::diag::Diagnostic;

/// What a path given to a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Cache,
    Workspace,
    Out,
    CacheSource,
    Config,
    PipelineDir,
    EnvFile,
    SigningKey,
    CaBundle,
    Rootfs,
}

impl Role {
    /// The flag that names it, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            Role::Source => "--source-dir",
            Role::Cache => "--cache-dir",
            Role::Workspace => "--workspace-dir",
            Role::Out => "--out-dir",
            Role::CacheSource => "--cache-source",
            Role::Config => "the build file",
            Role::PipelineDir => "--pipeline-dir",
            Role::EnvFile => "--env-file",
            Role::SigningKey => "--signing-key",
            Role::CaBundle => "--ca-bundle",
            Role::Rootfs => "--rootfs",
        }
    }

    /// The directories of a run (the rest are inputs melwrap reads).
    fn is_run_dir(self) -> bool {
        matches!(
            self,
            Role::Source | Role::Cache | Role::Workspace | Role::Out | Role::CacheSource
        )
    }
}

/// Why `inner` must not be `outer` or lie below it; `None` when that is fine. Only run
/// directories contain anything here; an input (a file, a pipeline dir) contains nothing.
pub fn nesting_problem(inner: Role, outer: Role) -> Option<&'static str> {
    use Role::*;
    match (outer, inner) {
        (Cache | Workspace, Source | Config | PipelineDir | Rootfs) => {
            Some("steps can write there, so they could rewrite it for the next build")
        }
        (Cache | Workspace, Out) => {
            Some("steps can write there, so they could plant packages that land in the index")
        }
        (Cache | Workspace, CacheSource) => {
            Some("steps can write there, so they would choose what is preloaded")
        }
        (Cache | Workspace, EnvFile | SigningKey) => {
            Some("steps can read and write there, so they could take the secret")
        }
        (Cache | Workspace, CaBundle) => {
            Some("steps can write there, so they could replace the CA bundle later builds trust")
        }
        (Cache, Workspace) | (Workspace, Cache) => Some(
            "steps could replace one through the other, and removing the workspace would \
             remove the cache",
        ),
        (Out, Cache | Workspace) => {
            Some("files steps write there would be published with the packages")
        }
        (CacheSource, Cache) => Some("the cache would be preloaded from itself"),
        (CacheSource, Workspace) => Some("the workspace would be copied into the cache"),
        (CacheSource, Source | EnvFile | SigningKey) => Some(
            "it would be copied into the cache, where steps read it (with any key or secret \
             in it)",
        ),
        _ => None,
    }
}

/// A path given to a run: what it is for, as given, and resolved.
#[derive(Debug, Clone)]
pub struct Place {
    pub role: Role,
    /// How the message names it (the flag, or how the default was chosen).
    pub label: String,
    pub given: PathBuf,
    pub resolved: PathBuf,
}

impl Place {
    /// Resolve `given` (see [`resolve`]); errors name the flag.
    pub fn new(role: Role, given: &Path) -> Result<Place, Diagnostic> {
        let resolved = resolve(given)
            .map_err(|e| Diagnostic::new(given, format!("{}: cannot resolve: {e}", role.flag())))?;
        Ok(Place {
            role,
            label: format!("`{}`", role.flag()),
            given: given.to_path_buf(),
            resolved,
        })
    }

    /// Name it differently in messages (a default rather than a flag).
    pub fn labelled(mut self, label: impl Into<String>) -> Place {
        self.label = label.into();
        self
    }

    fn describe(&self) -> String {
        if self.given == self.resolved {
            format!("{} {}", self.label, self.given.display())
        } else {
            format!(
                "{} {} (resolved: {})",
                self.label,
                self.given.display(),
                self.resolved.display()
            )
        }
    }
}

/// Check resolved places against each other and against `forbidden` (resolved system
/// directories and homes, refused as any run directory). Pure: compares paths only.
pub fn check_places(places: &[Place], forbidden: &[PathBuf]) -> Result<(), Diagnostic> {
    for p in places.iter().filter(|p| p.role.is_run_dir()) {
        if forbidden.contains(&p.resolved) || under_pseudo_fs(&p.resolved) {
            return Err(Diagnostic::new(
                &p.given,
                format!(
                    "{} is a system directory or your home; melwrap will not use it as a \
                     build directory",
                    p.describe()
                ),
            )
            .hint(match p.role {
                Role::Source => "keep the build file in a project directory of its own, or \
                                 pass one with `--source-dir`"
                    .to_string(),
                role => format!(
                    "pass a directory of its own to `{}`, such as ./melange-cache, ./packages \
                     or ~/.cache/melwrap",
                    role.flag()
                ),
            }));
        }
    }
    for outer in places.iter().filter(|p| p.role.is_run_dir()) {
        for inner in places {
            if std::ptr::eq(inner, outer) || !inner.resolved.starts_with(&outer.resolved) {
                continue;
            }
            if inner.resolved == outer.resolved && inner.role.is_run_dir() {
                if inner.role == outer.role {
                    continue;
                }
                return Err(Diagnostic::new(
                    &inner.given,
                    format!(
                        "{} and {} are the same directory",
                        inner.describe(),
                        outer.describe()
                    ),
                )
                .hint("give each of the cache, workspace, out, source and seed dirs its own directory"));
            }
            if let Some(why) = nesting_problem(inner.role, outer.role) {
                return Err(Diagnostic::new(
                    &inner.given,
                    format!("{} is inside {}: {why}", inner.describe(), outer.describe()),
                )
                .hint(format!(
                    "move it out of {}, or choose another `{}`",
                    outer.given.display(),
                    outer.role.flag()
                )));
            }
        }
    }
    Ok(())
}

fn under_pseudo_fs(path: &Path) -> bool {
    path.starts_with("/proc") || path.starts_with("/sys")
}

/// Directories never used as a run directory: the root and the system trees, `/tmp` itself,
/// and the user's home (`$HOME` and the password database's), all resolved (`/bin` is
/// `/usr/bin` on a merged-`/usr` system, and both are listed).
pub fn system_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [
        "/", "/usr", "/etc", "/bin", "/sbin", "/var", "/boot", "/proc", "/sys", "/dev", "/run",
        "/tmp", "/home", "/root", "/opt",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(entries) = std::fs::read_dir("/") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("lib") {
                dirs.push(entry.path());
            }
        }
    }
    for sub in ["bin", "sbin", "lib", "lib64", "local", "share"] {
        dirs.push(Path::new("/usr").join(sub));
    }
    dirs.extend(std::env::var_os("HOME").map(PathBuf::from));
    dirs.extend(passwd_home());
    let mut resolved: Vec<PathBuf> = dirs.iter().filter_map(|d| resolve(d).ok()).collect();
    resolved.extend(dirs.into_iter().filter(|d| d.is_absolute()));
    resolved.sort();
    resolved.dedup();
    resolved
}

/// The home directory of the real uid in the password database.
fn passwd_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buf outlives the call and its length is passed; getuid cannot fail.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into buf, NUL-terminated, while buf lives.
    let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
    (!dir.as_os_str().is_empty()).then_some(dir)
}

/// `path` made absolute with every symbolic link resolved, whether or not it exists (as
/// `realpath -m`): each component is looked at in turn; a link is replaced by its target, a
/// missing component is taken as it is, and `..` removes the last component of what is
/// already resolved (which holds no link, so that is the kernel's meaning too).
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    const MAX_LINKS: usize = 40;
    let abs = std::path::absolute(path)?;
    let mut pending: Vec<OsString> = components(&abs);
    pending.reverse();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == "." || name.is_empty() {
            continue;
        }
        if name == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&name);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&next)?;
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                let mut parts = components(&target);
                parts.reverse();
                pending.extend(parts);
            }
            // Existing, or missing (then nothing below it can be a link either way).
            _ => out = next,
        }
    }
    Ok(out)
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// What a run was given, to check with [`check_run`].
#[derive(Debug, Default)]
pub struct RunPaths<'a> {
    /// The source dir, and whether it was given with `--source-dir` (else it is the build
    /// file's directory).
    pub source: Option<(&'a Path, bool)>,
    pub cache: Option<&'a Path>,
    pub workspace: Option<&'a Path>,
    pub out: Option<&'a Path>,
    pub cache_source: Option<&'a Path>,
    pub config: Option<&'a Path>,
    pub pipeline_dirs: &'a [PathBuf],
    pub env_files: &'a [PathBuf],
    pub signing_key: Option<&'a Path>,
    pub ca_bundle: Option<&'a Path>,
    /// `--rootfs DIR` (not `host`).
    pub rootfs: Option<&'a Path>,
    /// Whether the workspace is a temporary directory in `$TMPDIR` (no `--workspace-dir`):
    /// checked as `$TMPDIR/melwrap-workspace-*`, so a `$TMPDIR` inside the cache or out dir
    /// is refused too.
    pub temporary_workspace: bool,
}

/// Resolve everything a run was given and check it (see the module doc). An error is bad
/// input (exit 2) naming both paths.
pub fn check_run(paths: &RunPaths<'_>) -> Result<(), Diagnostic> {
    let mut places = Vec::new();
    if let Some((source, explicit)) = paths.source {
        let place = Place::new(Role::Source, source)?;
        places.push(if explicit {
            place
        } else {
            place.labelled("the source dir (the build file's directory)")
        });
    }
    let singles = [
        (Role::Cache, paths.cache),
        (Role::Workspace, paths.workspace),
        (Role::Out, paths.out),
        (Role::CacheSource, paths.cache_source),
        (Role::Config, paths.config),
        (Role::SigningKey, paths.signing_key),
        (Role::CaBundle, paths.ca_bundle),
        (Role::Rootfs, paths.rootfs),
    ];
    for (role, path) in singles {
        if let Some(path) = path {
            places.push(Place::new(role, path)?);
        }
    }
    if paths.temporary_workspace && paths.workspace.is_none() {
        let tmp = std::env::temp_dir();
        let mut place =
            Place::new(Role::Workspace, &tmp)?.labelled("the temporary workspace (in $TMPDIR)");
        place.given = tmp.join("melwrap-workspace-*");
        place.resolved.push("melwrap-workspace-*");
        places.push(place);
    }
    for dir in paths.pipeline_dirs {
        places.push(Place::new(Role::PipelineDir, dir)?);
    }
    for file in paths.env_files {
        places.push(Place::new(Role::EnvFile, file)?);
    }
    check_places(&places, &system_dirs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn place(role: Role, path: &str) -> Place {
        Place {
            role,
            label: format!("`{}`", role.flag()),
            given: path.into(),
            resolved: path.into(),
        }
    }

    fn check(places: &[(Role, &str)]) -> Result<(), String> {
        let places: Vec<Place> = places.iter().map(|(r, p)| place(*r, p)).collect();
        let forbidden: Vec<PathBuf> = ["/", "/usr", "/etc", "/tmp", "/home/me", "/usr/lib"]
            .iter()
            .map(PathBuf::from)
            .collect();
        check_places(&places, &forbidden).map_err(|d| d.to_string())
    }

    /// Every pair of run directories, equal and nested both ways, and each input inside each
    /// run directory: refused or allowed, and the message names both paths.
    #[test]
    fn nesting_matrix() {
        let dirs = [Source, Cache, Workspace, Out, CacheSource];
        // (inner, outer) pairs that are fine.
        let allowed_nested = [
            (Cache, Source),
            (Workspace, Source),
            (Out, Source),
            (CacheSource, Source),
            (Source, Out),
            (CacheSource, Out),
            (Out, CacheSource),
        ];
        for outer in dirs {
            for inner in dirs {
                if inner == outer {
                    continue;
                }
                let equal = check(&[(outer, "/p/a"), (inner, "/p/a")]);
                let err = equal.expect_err(&format!("{inner:?} == {outer:?} must be refused"));
                assert!(err.contains("same directory"), "{err}");
                let nested = check(&[(outer, "/p/a"), (inner, "/p/a/b")]);
                if allowed_nested.contains(&(inner, outer)) {
                    assert_eq!(nested, Ok(()), "{inner:?} inside {outer:?}");
                } else {
                    let err =
                        nested.expect_err(&format!("{inner:?} inside {outer:?} must be refused"));
                    assert!(
                        err.contains("/p/a/b")
                            && err.contains("is inside")
                            && err.contains(outer.flag())
                            && err.contains(inner.flag()),
                        "{err}"
                    );
                }
            }
        }
        let inputs = [Config, PipelineDir, EnvFile, SigningKey, CaBundle, Rootfs];
        for input in inputs {
            for outer in dirs {
                let refused = match outer {
                    Cache | Workspace => true,
                    CacheSource => matches!(input, EnvFile | SigningKey),
                    _ => false,
                };
                let result = check(&[(outer, "/p/a"), (input, "/p/a/in")]);
                assert_eq!(
                    result.is_err(),
                    refused,
                    "{input:?} in {outer:?}: {result:?}"
                );
                // An input never contains a run directory in a way that matters.
                assert_eq!(check(&[(input, "/q"), (outer, "/q/sub")]), Ok(()));
            }
        }
    }

    #[test]
    fn melwrap_defaults_inside_the_project_are_fine() {
        assert_eq!(
            check(&[
                (Source, "/p"),
                (Config, "/p/melange.yaml"),
                (Cache, "/p/melange-cache"),
                (Out, "/p/packages"),
                (PipelineDir, "/p/pipelines"),
                (EnvFile, "/p/.env"),
                (SigningKey, "/p/melange.rsa"),
                (Workspace, "/p/ws"),
                (CacheSource, "/p/seed"),
            ]),
            Ok(())
        );
        // Sibling names that share a prefix are not nested.
        assert_eq!(check(&[(Cache, "/p/cache"), (Out, "/p/cache2")]), Ok(()));
    }

    #[test]
    fn system_directories_and_home_are_refused_as_run_dirs_only() {
        for dir in ["/", "/usr", "/etc", "/tmp", "/home/me", "/proc", "/sys/fs"] {
            for role in [Source, Cache, Workspace, Out, CacheSource] {
                let err = check(&[(role, dir)]).unwrap_err();
                assert!(
                    err.contains("system directory") && err.contains(dir),
                    "{err}"
                );
            }
        }
        // Below them is fine, and inputs may be anywhere.
        for dir in [
            "/tmp/x",
            "/home/me/project/melange-cache",
            "/var/cache/melwrap",
        ] {
            assert_eq!(check(&[(Cache, dir)]), Ok(()));
        }
        assert_eq!(check(&[(Config, "/etc"), (CaBundle, "/usr/lib")]), Ok(()));
    }

    #[test]
    fn resolve_follows_links_in_existing_and_dangling_paths() {
        let t = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(t.path()).unwrap();
        fs_err::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::os::unix::fs::symlink("real/missing/deeper", root.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve(&root.join("link")).unwrap(), root.join("real"));
        assert_eq!(
            resolve(&root.join("link/new/../x")).unwrap(),
            root.join("real/x")
        );
        assert_eq!(
            resolve(&root.join("dangling/y")).unwrap(),
            root.join("real/missing/deeper/y")
        );
        assert_eq!(
            resolve(&root.join("link/../link")).unwrap(),
            root.join("real")
        );
        assert!(resolve(&root.join("loop")).is_err());
        // /tmp's own links (if any) are resolved too, so the result is canonical.
        assert_eq!(resolve(t.path()).unwrap(), root);
    }
}
