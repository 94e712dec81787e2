//! The checks, one function per linter, each following melange's `pkg/linter/linters/*.go`
//! (paths are relative to the package root, `usr/bin/x`, as Go's `fs.WalkDir` gives them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::Found;
use super::elf::{self, ElfInfo};

/// What a linter sees of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path (`usr/bin/x`), lossily UTF-8.
    pub path: String,
    pub kind: Kind,
    /// Permission and special bits.
    pub mode: u32,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file (a hard link to an earlier entry included).
    File,
    Symlink,
    /// Devices and FIFOs.
    Other,
}

impl Entry {
    fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
    fn is_file(&self) -> bool {
        self.kind == Kind::File
    }
    fn base(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
    fn dir(&self) -> &str {
        self.path.rsplit_once('/').map_or(".", |(d, _)| d)
    }
    /// Go's `filepath.Ext`: from the last `.` of the base name, or "".
    fn ext(&self) -> &str {
        let base = self.base();
        base.rfind('.').map_or("", |i| &base[i..])
    }
}

/// Opens entry `index`'s contents (through the destdir walk's descriptors).
pub trait Opener {
    fn open(&mut self, index: usize) -> io::Result<File>;
}

/// One package as the linters see it.
pub struct Subject<'a> {
    pub name: &'a str,
    pub entries: &'a [Entry],
    /// The top-level `uses:` of the package's `test:` steps (`test/pkgconf`, ...).
    pub test_uses: &'a [String],
    pub opener: &'a mut dyn Opener,
    /// ELF information by entry, read once for `strip` and `binaryarch`.
    pub elf_cache: HashMap<usize, Option<ElfInfo>>,
}

type Outcome = io::Result<Option<Found>>;

static INFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^usr/(?:local/)?share/info/(?:dir|[^/]+\.info(?:\-[0-9]+)?(?:\.(?:gz|bz2|xz|lzma|Z))?)$",
    )
    .unwrap()
});
static CUDA_DRIVER_LIB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^usr/lib/lib(cuda|nvidia-ml)\.so(\.[0-9]+)*$").unwrap());
static DOCUMENTATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:READ(?:\.?ME)?|TODO|CREDITS|\.(?:md|docx?|rst|[0-9][a-z]))$").unwrap()
});
static OBJECT_EXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.(a|so|dylib)(\..*)?").unwrap());
static SHARED_OBJECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.so(?:\.[0-9]+)*$").unwrap());
static TEMP_DIR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(var/)?tmp/").unwrap());
static MAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^usr/(?:local/)?share/man(?:/man[0-9][^/]*)?(?:/[^/]+\.[0-9][^/]*(?:\.(?:gz|bz2|xz|lzma|Z))?)?$|^usr/man(?:/man[0-9][^/]*)?(?:/[^/]+\.[0-9][^/]*(?:\.(?:gz|bz2|xz|lzma|Z))?)?$").unwrap()
});
static PKGCONF_DIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^usr/(lib|share)/pkgconfig/").unwrap());
static LICENSE_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(un)?licen[sc]e|copy(ing|right)|ofl|patents").unwrap());

/// melange skips its own SBOM directory in several linters.
fn ignored(path: &str) -> bool {
    path.starts_with("var/lib/db/sbom/")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// melange's `AllPaths`: every entry the predicate matches, or nothing.
fn all_paths(
    s: &Subject<'_>,
    matches: impl Fn(&Entry) -> bool,
    message: impl Fn(&[String]) -> String,
) -> Outcome {
    let paths: Vec<String> = s
        .entries
        .iter()
        .filter(|e| matches(e))
        .map(|e| e.path.clone())
        .collect();
    Ok((!paths.is_empty()).then(|| Found {
        message: message(&paths),
        paths,
    }))
}

fn under(prefix: &'static str) -> impl Fn(&Entry) -> bool {
    move |e| !e.is_dir() && e.path.starts_with(prefix)
}

pub fn dev(s: &mut Subject<'_>) -> Outcome {
    let name = s.name;
    all_paths(s, under("dev/"), |_| format!("{name} writes to /dev"))
}

/// `-compat` packages may use the compatibility locations.
fn compat_location(s: &Subject<'_>, prefix: &'static str, message: String) -> Outcome {
    if s.name.ends_with("-compat") {
        return Ok(None);
    }
    all_paths(s, under(prefix), |_| message.clone())
}

pub fn opt(s: &mut Subject<'_>) -> Outcome {
    compat_location(s, "opt/", format!("{} writes to /opt", s.name))
}

pub fn srv(s: &mut Subject<'_>) -> Outcome {
    compat_location(s, "srv/", format!("{} writes to /srv", s.name))
}

pub fn usrlocal(s: &mut Subject<'_>) -> Outcome {
    let message = format!("{} contains /usr/local path in non-compat package", s.name);
    compat_location(s, "usr/local/", message)
}

pub fn varempty(s: &mut Subject<'_>) -> Outcome {
    let name = s.name;
    all_paths(s, under("var/empty/"), |_| {
        format!("{name} writes to /var/empty")
    })
}

pub fn tempdir(s: &mut Subject<'_>) -> Outcome {
    let snippet = s
        .entries
        .iter()
        .any(|e| e.path.starts_with("usr/lib/tmpfiles.d/"));
    let name = s.name;
    all_paths(
        s,
        |e| {
            (!e.is_dir() && TEMP_DIR.is_match(&e.path))
                || e.path.starts_with("var/run/")
                || (e.path.starts_with("run/") && (!e.is_dir() || !snippet))
        },
        |_| format!("{name} writes to a temp dir"),
    )
}

pub fn infodir(s: &mut Subject<'_>) -> Outcome {
    // melange matches only entries below `usr/share/info/dir/`; the file itself (what
    // `split/infodir` removes) is matched too (see the docs' differences).
    let name = s.name;
    all_paths(
        s,
        |e| {
            !e.is_dir()
                && (e.path == "usr/share/info/dir" || e.path.starts_with("usr/share/info/dir/"))
        },
        |_| format!("{name} writes to /usr/share/info/dir"),
    )
}

fn mode_text(mode: u32) -> String {
    format!("{:o}", mode & 0o7777)
}

pub fn worldwrite(s: &mut Subject<'_>) -> Outcome {
    let paths: Vec<String> = s
        .entries
        .iter()
        .filter(|e| e.is_file() && e.mode & 0o002 != 0)
        .map(|e| {
            let exec = if e.mode & 0o111 != 0 {
                ", executable"
            } else {
                ""
            };
            format!(
                "{} (mode {}: world-writable{exec})",
                e.path,
                mode_text(e.mode)
            )
        })
        .collect();
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} world-writeable {}",
            s.name,
            paths.len(),
            if paths.len() == 1 { "file" } else { "files" }
        ),
        paths,
    }))
}

pub fn setuidgid(s: &mut Subject<'_>) -> Outcome {
    let paths: Vec<String> = s
        .entries
        .iter()
        .filter(|e| e.is_file() && e.mode & 0o7000 != 0)
        .map(|e| {
            let bits: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
                .into_iter()
                .filter(|(b, _)| e.mode & b != 0)
                .map(|(_, n)| n)
                .collect();
            format!(
                "{} (mode {}: {})",
                e.path,
                mode_text(e.mode),
                bits.join(", ")
            )
        })
        .collect();
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} with special permissions (setuid/setgid)",
            s.name,
            plural(paths.len(), "file", "files")
        ),
        paths,
    }))
}

/// The ELF information of a regular file melange's `strip`/`binaryarch` look at: at least 4
/// bytes, executable or named like a library.
fn elf_of(s: &mut Subject<'_>, i: usize) -> io::Result<Option<ElfInfo>> {
    let e = &s.entries[i];
    if !e.is_file() || ignored(&e.path) || e.size < 4 {
        return Ok(None);
    }
    if e.mode & 0o111 == 0 && !OBJECT_EXT.is_match(e.ext()) {
        return Ok(None);
    }
    if let Some(cached) = s.elf_cache.get(&i) {
        return Ok(cached.clone());
    }
    let mut f = s.opener.open(i)?;
    let info = elf::read(&mut f)?;
    s.elf_cache.insert(i, info.clone());
    Ok(info)
}

pub fn strip(s: &mut Subject<'_>) -> Outcome {
    let mut paths = Vec::new();
    for i in 0..s.entries.len() {
        if let Some(info) = elf_of(s, i)?
            && (info.has_section(".debug") || info.has_section(".zdebug"))
        {
            paths.push(s.entries[i].path.clone());
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} unstripped {}",
            s.name,
            paths.len(),
            if paths.len() == 1 {
                "binary"
            } else {
                "binaries"
            }
        ),
        paths,
    }))
}

pub fn binaryarch(s: &mut Subject<'_>) -> Outcome {
    let mut paths = Vec::new();
    for i in 0..s.entries.len() {
        if let Some(info) = elf_of(s, i)?
            && info.machine != elf::EM_X86_64
            && info.machine != elf::EM_AARCH64
        {
            paths.push(format!("{} ({})", s.entries[i].path, info.arch_name()));
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} compiled for unsupported architecture(s)",
            s.name,
            plural(paths.len(), "binary", "binaries")
        ),
        paths,
    }))
}

pub fn empty(s: &mut Subject<'_>) -> Outcome {
    let has_file = s.entries.iter().any(|e| !e.is_dir() && !ignored(&e.path));
    Ok((!has_file).then(|| Found {
        message: "package is empty but no-provides is not set".to_string(),
        paths: Vec::new(),
    }))
}

pub fn object(s: &mut Subject<'_>) -> Outcome {
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && e.ext() == ".o",
        |p| {
            format!(
                "{name} contains {} intermediate object {}. This is usually wrong. In most cases they should be removed",
                p.len(),
                if p.len() == 1 { "file" } else { "files" }
            )
        },
    )
}

pub fn documentation(s: &mut Subject<'_>) -> Outcome {
    if s.name.ends_with("-doc") {
        return Ok(None);
    }
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && DOCUMENTATION.is_match(&e.path),
        |p| {
            format!(
                "{name} contains {} but is not a documentation package",
                plural(p.len(), "documentation file", "documentation files")
            )
        },
    )
}

pub fn maninfo(s: &mut Subject<'_>) -> Outcome {
    if s.name.ends_with("-doc") {
        return Ok(None);
    }
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && (MAN.is_match(&e.path) || INFO.is_match(&e.path)),
        |p| {
            format!(
                "{name} contains {} but is not a documentation package",
                plural(p.len(), "man/info file", "man/info files")
            )
        },
    )
}

pub fn sbom(s: &mut Subject<'_>) -> Outcome {
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && e.dir() == "var/lib/db/sbom" && !e.path.ends_with(".spdx.json"),
        |_| format!("{name} writes to var/lib/db/sbom"),
    )
}

/// The entries directly in `usr/lib/python3.*/site-packages/`, or a finding when more than one
/// Python version is present (melange's `GetPythonSitePackages` fails the linter then).
fn site_packages<'e>(s: &Subject<'e>) -> Result<Vec<&'e Entry>, Found> {
    let versions: Vec<&str> = s
        .entries
        .iter()
        .filter(|e| {
            e.dir() == "usr/lib" && e.base().starts_with("python3.") // Go's glob `python3.*`
        })
        .map(|e| e.path.as_str())
        .collect();
    match versions.as_slice() {
        [] => Ok(Vec::new()),
        [one] => {
            let dir = format!("{one}/site-packages");
            Ok(s.entries.iter().filter(|e| e.dir() == dir).collect())
        }
        many => Err(Found {
            message: format!(
                "more than one Python version detected: {} found",
                many.len()
            ),
            paths: many.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

fn python_dirs(s: &Subject<'_>, names: [&str; 2], message: &str) -> Outcome {
    match site_packages(s) {
        Err(found) => Ok(Some(found)),
        Ok(entries) => {
            let paths: Vec<String> = entries
                .iter()
                .filter(|e| names.contains(&e.base()))
                .map(|e| e.path.clone())
                .collect();
            Ok((!paths.is_empty()).then(|| Found {
                message: message.to_string(),
                paths,
            }))
        }
    }
}

pub fn python_docs(s: &mut Subject<'_>) -> Outcome {
    python_dirs(
        s,
        ["doc", "docs"],
        "docs directory encountered in Python site-packages directory",
    )
}

pub fn python_test(s: &mut Subject<'_>) -> Outcome {
    python_dirs(
        s,
        ["test", "tests"],
        "tests directory encountered in Python site-packages directory",
    )
}

pub fn python_multiple(s: &mut Subject<'_>) -> Outcome {
    let entries = match site_packages(s) {
        Err(found) => return Ok(Some(found)),
        Ok(entries) => entries,
    };
    let mut packages = BTreeSet::new();
    for e in entries {
        let base = e.base();
        if base.starts_with('_') || ["test", "tests", "doc", "docs"].contains(&base) {
            continue;
        }
        let ext = e.ext();
        if [".egg-info", ".dist-info", ".pth"].contains(&ext) {
            continue;
        }
        let stem = &base[..base.len() - ext.len()];
        if stem.is_empty() {
            continue;
        }
        packages.insert(format!("{stem:?}"));
    }
    if packages.len() <= 1 {
        return Ok(None);
    }
    let list: Vec<String> = packages.into_iter().collect();
    Ok(Some(Found {
        message: format!(
            "multiple Python packages detected: {} found ({})",
            list.len(),
            list.join(", ")
        ),
        paths: Vec::new(),
    }))
}

fn without_test(
    s: &Subject<'_>,
    tests: &[&str],
    matches: impl Fn(&Entry) -> bool,
    what: &str,
) -> Outcome {
    if s.test_uses.iter().any(|u| tests.contains(&u.as_str())) {
        return Ok(None);
    }
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && matches(e),
        |_| format!("{name} contains {what} but {} is not configured", tests[0]),
    )
}

pub fn pkgconf(s: &mut Subject<'_>) -> Outcome {
    without_test(
        s,
        &["test/pkgconf"],
        |e| PKGCONF_DIR.is_match(&e.path),
        "pkgconfig files",
    )
}

pub fn lddcheck(s: &mut Subject<'_>) -> Outcome {
    without_test(
        s,
        &["test/ldd-check", "test/tw/ldd-check"],
        |e| SHARED_OBJECT.is_match(&e.path),
        "shared objects",
    )
}

pub fn usrmerge(s: &mut Subject<'_>) -> Outcome {
    const DIRS: [&str; 5] = ["sbin", "bin", "usr/sbin", "lib", "lib64"];
    let paths: Vec<String> = s
        .entries
        .iter()
        .filter(|e| !ignored(&e.path))
        .filter(|e| {
            DIRS.iter()
                .any(|d| e.path == *d || e.path.starts_with(&format!("{d}/")))
        })
        .map(|e| e.path.clone())
        .collect();
    Ok((!paths.is_empty()).then(|| Found {
        message: "Package contains paths in violation of usrmerge".to_string(),
        paths,
    }))
}

pub fn cudaruntimelib(s: &mut Subject<'_>) -> Outcome {
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && CUDA_DRIVER_LIB.is_match(&e.path),
        |_| format!("{name} contains CUDA driver-specific libraries"),
    )
}

fn by_extension(s: &Subject<'_>, ext: &str, skip_suffixes: &[&str], what: &str) -> Outcome {
    if skip_suffixes.iter().any(|x| s.name.ends_with(x)) {
        return Ok(None);
    }
    let name = s.name;
    all_paths(
        s,
        |e| !e.is_dir() && e.ext() == ext,
        |p| format!("{name} contains {} {what}", p.len()),
    )
}

pub fn dll(s: &mut Subject<'_>) -> Outcome {
    by_extension(s, ".dll", &["-dev"], "DLL file(s)")
}

pub fn dylib(s: &mut Subject<'_>) -> Outcome {
    by_extension(s, ".dylib", &["-dev"], "dylib file(s)")
}

pub fn staticarchive(s: &mut Subject<'_>) -> Outcome {
    by_extension(
        s,
        ".a",
        &["-dev", "-static"],
        "static archive(s). Static archives bloat packages and should typically be in -dev packages or removed",
    )
}

pub fn la_files(s: &mut Subject<'_>) -> Outcome {
    by_extension(
        s,
        ".la",
        &[],
        "libtool archive (.la) file(s). Remove them in the build pipeline; if this package legitimately needs to ship .la files, disable this linter via checks.disabled",
    )
}

pub fn nonlinux(s: &mut Subject<'_>) -> Outcome {
    const PLATFORMS: [(&str, &[&str]); 2] = [
        (
            "macos",
            &["darwin", "macos", "mac_os", "mac-os", "osx", "os_x", "os-x"],
        ),
        ("windows", &["windows", "win32", "win64"]),
    ];
    let mut paths = Vec::new();
    for e in s.entries.iter().filter(|e| !e.is_dir()) {
        let dir = e.dir().to_lowercase();
        let base = e.base().to_lowercase();
        let hit = PLATFORMS
            .iter()
            .find(|(_, variants)| variants.iter().any(|v| dir.contains(v) || base.contains(v)));
        if let Some((platform, _)) = hit {
            paths.push(format!("{} ({platform})", e.path));
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!("{} contains {} non-Linux reference(s)", s.name, paths.len()),
        paths,
    }))
}

pub fn unsupportedarch(s: &mut Subject<'_>) -> Outcome {
    const SUPPORTED: [&str; 5] = ["aarch64", "arm64", "amd64", "x86_64", "x86-64"];
    const ARCHS: [&str; 18] = [
        "i386", "i686", "x86_32", "x86-32", "ppc64", "ppc64le", "powerpc", "s390x", "s390", "mips",
        "mipsel", "mips64", "riscv", "riscv64", "sparc", "sparc64", "ia64", "m68k",
    ];
    let mut paths = Vec::new();
    for e in s.entries.iter().filter(|e| !e.is_dir()) {
        let path = e.path.to_lowercase();
        let dir = e.dir().to_lowercase();
        let base = e.base().to_lowercase();
        let hit = ARCHS.iter().find(|arch| {
            // melange: `/arch/` or `/arch` anywhere in the directory.
            if dir.contains(&format!("/{arch}")) {
                return true;
            }
            ["-", "_", "."].iter().any(|sep| {
                let named = base.contains(&format!("{sep}{arch}{sep}"))
                    || base.contains(&format!("{sep}{arch}."))
                    || base.ends_with(&format!("{sep}{arch}"));
                named && !SUPPORTED.iter().any(|ok| path.contains(ok))
            })
        });
        if let Some(arch) = hit {
            paths.push(format!("{} ({arch})", e.path));
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} unsupported architecture reference(s)",
            s.name,
            paths.len()
        ),
        paths,
    }))
}

pub fn duplicate(s: &mut Subject<'_>) -> Outcome {
    const MIN_SIZE: u64 = 1024;
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut sizes: HashMap<(String, String), u64> = HashMap::new();
    for i in 0..s.entries.len() {
        let e = &s.entries[i];
        if !e.is_file() || e.size < MIN_SIZE || LICENSE_FILE.is_match(e.base()) {
            continue;
        }
        let (path, base, size) = (e.path.clone(), e.base().to_string(), e.size);
        let mut f = s.opener.open(i)?;
        let hash = sha256_of(&mut f)?;
        let key = (hash, base);
        sizes.insert(key.clone(), size);
        groups.entry(key).or_default().push(path);
    }
    let mut sets: Vec<(u64, String, Vec<String>)> = groups
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(key, mut paths)| {
            paths.sort();
            let wasted = (paths.len() as u64 - 1) * sizes[&key];
            (wasted, key.1, paths)
        })
        .collect();
    if sets.is_empty() {
        return Ok(None);
    }
    sets.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    let total: u64 = sets.iter().map(|s| s.0).sum();
    let paths = sets
        .iter()
        .map(|(wasted, base, paths)| {
            format!(
                "{base}: {} copies, {wasted} bytes wasted: {}",
                paths.len(),
                paths.join(", ")
            )
        })
        .collect();
    Ok(Some(Found {
        message: format!(
            "{} contains {} duplicate file(s) with same name in different directories (wasting {total} bytes total)",
            s.name,
            sets.len()
        ),
        paths,
    }))
}

fn sha256_of(f: &mut File) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
