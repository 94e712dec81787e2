//! The checks, one function per linter, each following melange's `pkg/linter/linters/*.go`
//! (paths are relative to the package root, `usr/bin/x`, as Go's `fs.WalkDir` gives them).

//!
//! | file | linters |
//! |---|---|
//! | `paths` | those that look at names, kinds and modes only |
//! | `python` | `python/docs`, `python/multiple`, `python/test` |
//! | `content` | those that read files: `strip`, `binaryarch`, `duplicate` |

mod content;
mod paths;
mod python;

pub use content::*;
pub use paths::*;
pub use python::*;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::LazyLock;

use regex::Regex;

use super::Found;
use super::elf::ElfInfo;

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

#[cfg(test)]
mod tests;
