//! The passes over one package, in melange's order (`sca.Analyze`): extra library
//! directories from `etc/ld.so.conf.d`, shared objects, commands, `-doc` contents,
//! pkg-config files, Perl, Python and Ruby modules, shebangs; then sorting and the
//! package's `no-commands`, `no-depends` and `no-provides` options.

use std::collections::BTreeMap;

use color_eyre::eyre;

use crate::apk::tar::Kind;
use crate::config::model::PackageOptions;
use crate::limits::{MAX_SCA_GENERATED, MAX_SCA_TEXT_BYTES};

use super::rules::{self, base_of, is_in_dir};
use super::tree::{PackageTree, Reader};
use super::{Finding, Generated, Skipped, elf};

/// One package to scan, among the packages of its build.
pub struct Request<'a> {
    /// Every package of the build, main package first (melange's `RelativeNames`): symlinks
    /// into a sibling's libraries and `ld.so.conf.d` files are looked up in all of them.
    pub trees: &'a [PackageTree],
    /// Which of `trees` to scan.
    pub index: usize,
    /// `<version>-r<epoch>`, the version of generated `cmd:`, `pc:` and `so-ver:` provides.
    pub version: String,
    pub options: PackageOptions,
    /// The package's configured `dependencies.runtime` (a configured Python, Perl or Ruby
    /// dependency replaces the generated one).
    pub base_runtime: &'a [String],
}

struct Scan<'a> {
    req: &'a Request<'a>,
    tree: &'a PackageTree,
    reader: Reader<'a>,
    lib_dirs: Vec<String>,
    out: Generated,
}

/// Scan one package.
pub fn analyze(req: &Request<'_>) -> eyre::Result<Generated> {
    let tree = &req.trees[req.index];
    let mut scan = Scan {
        req,
        tree,
        reader: Reader::new(tree),
        lib_dirs: rules::LIB_DIRS.iter().map(|d| d.to_string()).collect(),
        out: Generated::default(),
    };
    let extra = scan.ld_so_conf_dirs();
    scan.lib_dirs.extend(extra);
    scan.shared_objects();
    scan.commands();
    scan.doc();
    scan.pkgconfig();
    scan.perl();
    scan.python();
    scan.ruby();
    scan.shebangs();
    let mut out = scan.out;
    for list in [&mut out.runtime, &mut out.provides, &mut out.vendored] {
        list.sort();
        list.dedup();
    }
    let o = &req.options;
    if o.no_commands {
        out.provides.retain(|p| !p.starts_with("cmd:"));
        out.runtime.retain(|p| !p.starts_with("cmd:"));
    }
    if o.no_depends {
        out.runtime.clear();
    }
    if o.no_provides {
        out.provides.clear();
    }
    // The log keeps only findings whose value survived the options.
    let kept = |f: &Finding| match f.kind {
        "depend" => out.runtime.binary_search(&f.value).is_ok(),
        "provides" => out.provides.binary_search(&f.value).is_ok(),
        _ => out.vendored.binary_search(&f.value).is_ok(),
    };
    let mut findings: Vec<Finding> = out.findings.iter().filter(|f| kept(f)).cloned().collect();
    findings.sort();
    findings.dedup();
    out.findings = findings;
    out.skipped.sort();
    out.skipped.dedup();
    let total = out.runtime.len() + out.provides.len() + out.vendored.len();
    if total > MAX_SCA_GENERATED {
        eyre::bail!(
            "package `{}`: dependency scanning generated {total} dependencies and provides, more \
             than the limit of {MAX_SCA_GENERATED}\n  hint: set `options: {{no-provides: true, \
             no-depends: true}}` for this package, or ship fewer files",
            tree.name
        );
    }
    Ok(out)
}

impl Scan<'_> {
    fn add(&mut self, kind: &'static str, value: String, path: &str, reason: &str) {
        if self.out.findings.len() > MAX_SCA_GENERATED * 4 {
            return;
        }
        let list = match kind {
            "depend" => &mut self.out.runtime,
            "provides" => &mut self.out.provides,
            _ => &mut self.out.vendored,
        };
        list.push(value.clone());
        self.out.findings.push(Finding {
            kind,
            value,
            path: path.to_string(),
            reason: reason.to_string(),
        });
    }

    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        if self.out.skipped.len() < MAX_SCA_GENERATED {
            self.out.skipped.push(Skipped {
                path: path.to_string(),
                reason: reason.into(),
            });
        }
    }

    /// Entries of the scanned package, in walk order.
    fn entries(&self) -> std::ops::Range<usize> {
        0..self.tree.len()
    }

    /// Absolute directories named by `etc/ld.so.conf.d/**.conf` files of any package of the
    /// build (melange's `getLdSoConfDLibPaths`).
    fn ld_so_conf_dirs(&mut self) -> Vec<String> {
        let mut dirs = Vec::new();
        for tree in self.req.trees {
            let reader = Reader::new(tree);
            for i in 0..tree.len() {
                let path = tree.path(i);
                if !path.starts_with("etc/ld.so.conf.d/") || !path.ends_with(".conf") {
                    continue;
                }
                if !matches!(tree.kind(i), Kind::File | Kind::HardLink(_)) {
                    continue;
                }
                match read_text(&reader, tree, i) {
                    Ok(text) => dirs.extend(rules::ld_so_conf_dirs(&text)),
                    Err(why) => {
                        let shown = format!("{}: {path}", tree.name);
                        self.skip(&shown, why);
                    }
                }
            }
        }
        dirs.truncate(256);
        dirs
    }

    /// melange's `generateSharedObjectNameDeps`.
    fn shared_objects(&mut self) {
        for i in self.entries() {
            let path = self.tree.path(i);
            let target = match self.tree.kind(i) {
                Kind::File | Kind::HardLink(_) => i,
                Kind::Symlink(link) => {
                    if path.contains(".so") {
                        let link = String::from_utf8_lossy(link).into_owned();
                        self.symlinked_library(&path, &link);
                    }
                    match self.tree.resolve_entry(i) {
                        Some(t) if matches!(self.tree.kind(t), Kind::File | Kind::HardLink(_)) => t,
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if !self.reader.head(target, 4).is_some_and(|h| elf::is_elf(&h)) {
                continue;
            }
            let Some(facts) = self.reader.open(target).and_then(elf::read_facts) else {
                self.skip(&path, "starts like an ELF file but cannot be read as one");
                continue;
            };
            self.elf_facts(&path, &facts);
        }
    }

    fn elf_facts(&mut self, path: &str, facts: &elf::ElfFacts) {
        if !facts.interpreter.is_empty() {
            let dep = rules::interpreter_dependency(&facts.interpreter);
            self.add("depend", dep, path, "ELF interpreter (PT_INTERP)");
        }
        for lib in &facts.needed {
            if rules::is_host_provided(lib) {
                continue;
            }
            if lib.contains(".so.") {
                self.add("depend", format!("so:{lib}"), path, "DT_NEEDED");
            }
        }
        let base = base_of(path);
        // A program (it has an interpreter) provides no SONAME, unless its name says it is
        // a library too (libc and libcap run as programs).
        let library =
            facts.interpreter.is_empty() || base.contains(".so.") || base.ends_with(".so");
        if !library {
            return;
        }
        let in_lib_dir = is_in_dir(path, &self.lib_dirs);
        for soname in &facts.sonames {
            if rules::is_host_provided(soname) {
                continue;
            }
            let libver = rules::soname_libver(soname);
            let so = format!("so:{soname}={libver}");
            let so_ver = format!("so-ver:{soname}={}", self.req.version);
            if in_lib_dir {
                let why = "DT_SONAME of a file in a library directory";
                self.add("provides", so, path, why);
                self.add("provides", so_ver, path, why);
            } else {
                let why = "DT_SONAME of a file outside the library directories";
                self.add("vendored", so, path, why);
                self.add("vendored", so_ver, path, why);
            }
        }
    }

    /// melange's `processSymlinkSo`: a link named like a library whose target's name is a
    /// file in a library directory of any package of the build depends on that file's
    /// SONAME (a `-dev` package's `libfoo.so` on the `libfoo.so.1` of the library package).
    fn symlinked_library(&mut self, path: &str, link: &str) {
        let name = base_of(link);
        if name.is_empty() || name == "." || name == ".." {
            return;
        }
        for tree in self.req.trees {
            for dir in &self.lib_dirs {
                let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
                let Some(found) = tree.resolve(&candidate) else {
                    continue;
                };
                if !matches!(tree.kind(found), Kind::File | Kind::HardLink(_)) {
                    return;
                }
                let reader = Reader::new(tree);
                let Some(facts) = reader.open(found).and_then(elf::read_facts) else {
                    return;
                };
                let why = format!(
                    "link named like a library, to {}'s {candidate}: its DT_SONAME",
                    tree.name
                );
                for soname in &facts.sonames {
                    if !rules::is_host_provided(soname) {
                        self.add("depend", format!("so:{soname}"), path, &why);
                    }
                }
                return;
            }
        }
    }

    /// melange's `generateCmdProviders`: executable (`r-x` for all) regular files directly in
    /// a command directory.
    fn commands(&mut self) {
        for i in self.entries() {
            if !matches!(self.tree.kind(i), Kind::File | Kind::HardLink(_)) {
                continue;
            }
            let path = self.tree.path(i);
            if self.tree.mode(i) & 0o555 == 0o555 && is_in_dir(&path, &rules::BIN_DIRS) {
                let cmd = format!("cmd:{}={}", base_of(&path), self.req.version);
                self.add("provides", cmd, &path, "executable in a command directory");
            }
        }
    }

    /// melange's `generateDocDeps`: a `-doc` package with man pages needs `man-db`, with info
    /// pages `texinfo`.
    fn doc(&mut self) {
        if !self.tree.name.ends_with("-doc") {
            return;
        }
        for i in self.entries() {
            let path = self.tree.path(i);
            if is_in_dir(&path, &["usr/share/man"]) {
                self.add(
                    "depend",
                    "man-db".into(),
                    &path,
                    "manual page in a -doc package",
                );
            }
            if is_in_dir(&path, &["usr/share/info"]) {
                self.add(
                    "depend",
                    "texinfo".into(),
                    &path,
                    "info page in a -doc package",
                );
            }
        }
    }

    /// melange's `generatePkgConfigDeps`: regular `.pc` files (symlinks are skipped).
    fn pkgconfig(&mut self) {
        for i in self.entries() {
            let path = self.tree.path(i);
            if !path.ends_with(".pc")
                || !matches!(self.tree.kind(i), Kind::File | Kind::HardLink(_))
            {
                continue;
            }
            let text = match read_text(&self.reader, self.tree, i) {
                Ok(t) => t,
                Err(why) => {
                    self.skip(&path, why);
                    continue;
                }
            };
            let requires = match rules::pkgconfig_requires(&text) {
                Ok(r) => r,
                Err(why) => {
                    self.skip(
                        &path,
                        format!("not a pkg-config file melwrap can read: {why}"),
                    );
                    continue;
                }
            };
            let name = base_of(&path).trim_end_matches(".pc").to_string();
            if !rules::usable_name(&name) {
                self.skip(&path, "the module name cannot be written into .PKGINFO");
                continue;
            }
            let provide = format!("pc:{name}={}", self.req.version);
            if is_in_dir(&path, &rules::PKGCONFIG_DIRS) {
                self.add("provides", provide, &path, "pkg-config file");
                for dep in requires {
                    let why = "Requires (or Requires.private/.internal) of a pkg-config file";
                    self.add("depend", format!("pc:{dep}"), &path, why);
                }
            } else {
                let why = "pkg-config file outside the pkg-config directories";
                self.add("vendored", provide, &path, why);
            }
        }
    }

    /// melange's `generatePerlDeps`: `usr/lib/perlN/*_perl` (or `lib/...`) needs `perl~N`.
    fn perl(&mut self) {
        let mut first: Option<(String, String)> = None;
        let mut usr_first: Option<(String, String)> = None;
        for i in self.entries() {
            let path = self.tree.path(i);
            let parts: Vec<&str> = path.split('/').collect();
            let (usr, rest) = match parts.as_slice() {
                ["usr", "lib", rest @ ..] => (true, rest),
                ["lib", rest @ ..] => (false, rest),
                _ => continue,
            };
            let [perl_dir, module] = rest else { continue };
            let Some(version) = perl_dir.strip_prefix("perl") else {
                continue;
            };
            if !version.starts_with(|c: char| c.is_ascii_digit()) || !module.ends_with("_perl") {
                continue;
            }
            let slot = if usr { &mut usr_first } else { &mut first };
            if slot.is_none() {
                *slot = Some((version.to_string(), path.clone()));
            }
        }
        let Some((version, path)) = usr_first.or(first) else {
            return;
        };
        if self.req.base_runtime.iter().any(|d| d == "perl") {
            self.skip(
                &path,
                "a Perl module, but `perl` is configured as a dependency",
            );
            return;
        }
        if rules::usable_name(&version) {
            self.add(
                "depend",
                format!("perl~{version}"),
                &path,
                "Perl module directory",
            );
        }
    }

    /// melange's `generatePythonDeps`: a `pythonX.Y/site-packages` directory needs
    /// `python-X.Y-base` (the last one in walk order decides).
    fn python(&mut self) {
        let mut found = None;
        for i in self.entries() {
            if !matches!(self.tree.kind(i), Kind::Dir) {
                continue;
            }
            let path = self.tree.path(i);
            if base_of(&path) != "site-packages" {
                continue;
            }
            let Some(parent) = self.tree.parent(i) else {
                continue;
            };
            let parent_path = self.tree.path(parent);
            if let Some(v) = rules::python_version(base_of(&parent_path)) {
                found = Some((v.to_string(), path));
            }
        }
        let Some((version, path)) = found else { return };
        if let Some(d) = self
            .req
            .base_runtime
            .iter()
            .find(|d| d.starts_with("python"))
        {
            self.skip(
                &path,
                format!("Python modules, but `{d}` is configured as a dependency"),
            );
            return;
        }
        if rules::usable_name(&version) {
            let dep = format!("python-{version}-base");
            self.add("depend", dep, &path, "Python site-packages directory");
        }
    }

    /// melange's `generateRubyDeps`: `usr/lib/ruby/gems/X.Y.Z/gems` needs `ruby-X.Y`.
    fn ruby(&mut self) {
        // melange's glob `[0-9]*.[0-9]*.[0.9]*`; `[0.9]` is a class of `0`, `.` and `9`.
        let pattern = regex::Regex::new(r"^[0-9][^/]*\.[0-9][^/]*\.[0.9][^/]*$").expect("valid");
        let mut matches = Vec::new();
        for i in self.entries() {
            let path = self.tree.path(i);
            let parts: Vec<&str> = path.split('/').collect();
            let (usr, version) = match parts.as_slice() {
                ["usr", "lib", "ruby", "gems", v, "gems"] => (true, *v),
                ["lib", "ruby", "gems", v, "gems"] => (false, *v),
                _ => continue,
            };
            if pattern.is_match(version) {
                matches.push((!usr, path.clone(), version.to_string()));
            }
        }
        matches.sort();
        let Some((_, path, full)) = matches.into_iter().next() else {
            return;
        };
        let version = match full.rfind('.') {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        if version.is_empty() {
            return;
        }
        if let Some(d) = self
            .req
            .base_runtime
            .iter()
            .find(|d| d.starts_with("ruby-") || *d == "ruby")
        {
            self.skip(
                &path,
                format!("Ruby gems, but `{d}` is configured as a dependency"),
            );
            return;
        }
        if rules::usable_name(&version) {
            self.add(
                "depend",
                format!("ruby-{version}"),
                &path,
                "Ruby gems directory",
            );
        }
    }

    /// melange's `generateShbangDeps`: files under `usr/bin/`, `usr/local/bin/` and
    /// `usr/local/sbin/` whose first 80 bytes start with `#!` need their interpreter.
    fn shebangs(&mut self) {
        let mut commands: BTreeMap<String, String> = BTreeMap::new();
        for i in self.entries() {
            if !matches!(self.tree.kind(i), Kind::File | Kind::HardLink(_)) {
                continue;
            }
            let path = self.tree.path(i);
            if !rules::SHEBANG_PREFIXES.iter().any(|p| path.starts_with(p)) {
                continue;
            }
            let Some(head) = self.reader.head(i, rules::SHEBANG_BYTES) else {
                self.skip(&path, "cannot be opened to read its shebang");
                continue;
            };
            match rules::shebang(&head) {
                Ok(Some(bin)) => {
                    let cmd = base_of(&bin).to_string();
                    if rules::usable_name(&cmd) {
                        commands.insert(cmd, path);
                    }
                }
                Ok(None) => {}
                Err(why) => self.skip(&path, why),
            }
        }
        for (cmd, path) in commands {
            self.add("depend", format!("cmd:{cmd}"), &path, "shebang interpreter");
        }
    }
}

/// The text of a small regular file, or why it was not read.
fn read_text(reader: &Reader<'_>, tree: &PackageTree, i: usize) -> Result<String, String> {
    let size = tree.size(i).unwrap_or(0);
    if size > MAX_SCA_TEXT_BYTES {
        return Err(format!(
            "larger than {} (the limit), not read",
            crate::bounded_read::human_bytes(MAX_SCA_TEXT_BYTES)
        ));
    }
    let bytes = reader
        .head(i, MAX_SCA_TEXT_BYTES as usize)
        .ok_or("cannot be opened")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
