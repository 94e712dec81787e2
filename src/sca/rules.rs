//! The pure rules of dependency scanning, each as melange's `pkg/sca/sca.go` states it:
//! which directories count as library and command directories, the version a SONAME
//! provides, which libraries the host supplies, what a shebang depends on, and what a
//! pkg-config file requires. Nothing here reads a file.

/// Library directories (melange's `LibDirs`), package-relative with a trailing slash.
pub const LIB_DIRS: [&str; 4] = ["lib/", "usr/lib/", "lib64/", "usr/lib64/"];

/// Command directories (melange's `BinDirs`): executables directly inside become `cmd:`.
pub const BIN_DIRS: [&str; 4] = ["bin/", "sbin/", "usr/bin/", "usr/sbin/"];

/// Directories whose `.pc` files are provided (others are vendored).
pub const PKGCONFIG_DIRS: [&str; 5] = [
    "usr/local/lib/pkgconfig/",
    "usr/local/share/pkgconfig/",
    "usr/lib/pkgconfig/",
    "usr/lib64/pkgconfig/",
    "usr/share/pkgconfig/",
];

/// Path prefixes whose files are read for a shebang.
pub const SHEBANG_PREFIXES: [&str; 3] = ["usr/bin/", "usr/local/bin/", "usr/local/sbin/"];

/// Libraries the host's GPU driver injects: never provided, never depended on.
const HOST_PROVIDED: [&str; 27] = [
    "libEGL_nvidia.so.1",
    "libGLESv1_CM_nvidia.so.1",
    "libGLESv2_nvidia.so.1",
    "libGLX_nvidia.so.1",
    "libcuda.so.1",
    "libcudadebugger.so.1",
    "libnvcuvid.so.1",
    "libnvidia-allocator.so.1",
    "libnvidia-cfg.so.1",
    "libnvidia-eglcore.so.1",
    "libnvidia-encode.so.1",
    "libnvidia-fbc.so.1",
    "libnvidia-glcore.so.1",
    "libnvidia-glsi.so.1",
    "libnvidia-glvkspirv.so.1",
    "libnvidia-gpucomp.so.1",
    "libnvidia-ml.so.1",
    "libnvidia-ngx.so.1",
    "libnvidia-nvvm.so.1",
    "libnvidia-opencl.so.1",
    "libnvidia-opticalflow.so.1",
    "libnvidia-pkcs11-openssl3.so.1",
    "libnvidia-pkcs11.so.1",
    "libnvidia-ptxjitcompiler.so.1",
    "libnvidia-rtcore.so.1",
    "libnvidia-tls.so.1",
    "libnvoptix.so.1",
];

/// Interpreters a shebang names that produce no dependency: `sh` and `python3` are symlinks
/// nothing provides as `cmd:`, and `luajit` has several incompatible providers.
const SHEBANG_IGNORED: [&str; 5] = ["python3", "python", "sh", "awk", "luajit"];

/// How many bytes of a file melange reads for its shebang.
pub const SHEBANG_BYTES: usize = 80;

pub fn is_host_provided(lib: &str) -> bool {
    HOST_PROVIDED.contains(&lib)
}

/// The directory part of a package path (`usr/lib` for `usr/lib/x`, `.` for a top-level
/// name), as Go's `filepath.Dir` gives it.
pub fn dir_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// The last component of a path (Go's `filepath.Base` for the paths met here).
pub fn base_of(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// melange's `isInDir`: `path`'s directory is one of `dirs` (with or without the trailing
/// slash), or below one written `dir/...`.
pub fn is_in_dir<S: AsRef<str>>(path: &str, dirs: &[S]) -> bool {
    let mine = dir_of(path);
    dirs.iter().any(|d| {
        let d = d.as_ref();
        match d.strip_suffix("/...") {
            Some(prefix) => {
                mine == prefix
                    || mine
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            None => mine == d || format!("{mine}/") == d,
        }
    })
}

/// The version a SONAME provides (melange's `sonameLibver`): what follows `.so.` when it is
/// digits and dots, else `0`.
pub fn soname_libver(soname: &str) -> String {
    match soname.split(".so.").nth(1) {
        Some(v) if v.chars().all(|c| c == '.' || c.is_numeric()) => v.to_string(),
        _ => "0".to_string(),
    }
}

/// The `so:` dependency an ELF interpreter (`PT_INTERP`) gives: its base name, with musl's
/// loader named after the library it links to (`ld-musl-x86_64.so.1` is `libc.musl-x86_64.so.1`).
pub fn interpreter_dependency(interp: &str) -> String {
    format!("so:{}", base_of(interp)).replace("so:ld-musl", "so:libc.musl")
}

/// What a file's first bytes say about its interpreter (melange's `getShbang`): `Ok(None)` for
/// no shebang or an ignored interpreter, `Ok(Some(bin))` for a dependency on `cmd:<base of
/// bin>`, `Err` for a `/usr/bin/env` line melange cannot read.
pub fn shebang(head: &[u8]) -> Result<Option<String>, String> {
    let head = &head[..head.len().min(SHEBANG_BYTES)];
    if head.len() < 2 || !head.starts_with(b"#!") {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&head[2..]);
    let line = line.split('\n').next().unwrap_or("");
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let Some(&first) = tokens.first() else {
        return Ok(None);
    };
    let mut bin = first;
    if bin == "/usr/bin/env" {
        bin = match tokens.len() {
            1 => return Err("a shebang of only '/usr/bin/env'".into()),
            2 => tokens[1],
            _ if tokens[1] == "-S" && !tokens[2].starts_with('-') => tokens[2],
            n => {
                return Err(format!(
                    "a shebang of '/usr/bin/env' with multiple arguments ({n} {})",
                    tokens.join(" ")
                ));
            }
        };
    }
    if SHEBANG_IGNORED.contains(&base_of(bin)) {
        return Ok(None);
    }
    Ok(Some(bin.to_string()))
}

/// `X.Y` from a `pythonX.Y` directory that holds `site-packages` (melange's
/// `generatePythonDeps`); `None` when the name is not `python…` or has nothing after it.
pub fn python_version(parent_dir_name: &str) -> Option<&str> {
    parent_dir_name
        .strip_prefix("python")
        .filter(|v| !v.is_empty())
}

/// A name taken from a file (SONAME, DT_NEEDED, interpreter, pkg-config module) that is safe
/// to write into `.PKGINFO`: printable, without spaces, not too long.
pub fn usable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::limits::MAX_SCA_NAME_BYTES
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What a `.pc` file requires: module names of `Requires`, `Requires.private` and
/// `Requires.internal` (melange adds all three as `pc:` dependencies), version constraints
/// dropped. `Err` names the first line that cannot be read.
pub fn pkgconfig_requires(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let Some(rest) = ["Requires.private", "Requires.internal", "Requires"]
            .iter()
            .find_map(|k| line.strip_prefix(k))
            .and_then(|r| r.trim_start().strip_prefix(':'))
        else {
            continue;
        };
        let list =
            requirement_list(rest).map_err(|e| format!("line {}: {e}: {:?}", n + 1, raw.trim()))?;
        out.extend(list);
    }
    Ok(out)
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')
}

/// `a, b >= 1.0 c` → `[a, b, c]`.
fn requirement_list(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    fn skip(s: &str) -> &str {
        s.trim_start_matches(|c: char| c == ',' || c.is_whitespace())
    }
    rest = skip(rest);
    while !rest.is_empty() {
        let end = rest.find(|c| !is_identifier_char(c)).unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("unexpected {:?}", rest.chars().next().unwrap()));
        }
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
        let op = ["<=", ">=", "!=", "<", ">", "="]
            .iter()
            .find(|op| rest.starts_with(**op));
        if let Some(op) = op {
            rest = rest[op.len()..].trim_start();
            let vend = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            if vend == 0 {
                return Err(format!("no version after `{op}`"));
            }
            rest = &rest[vend..];
        }
        rest = skip(rest);
    }
    Ok(out)
}

/// Absolute library directories listed in an `ld.so.conf.d/*.conf` file, package-relative
/// (leading `/` removed), as melange reads them: only lines that start with `/`.
pub fn ld_so_conf_dirs(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter_map(|l| l.strip_prefix('/'))
        .map(str::to_string)
        .collect()
}

/// melange's `removeSelfProvidedDeps`: drop every dependency whose name one of `provides`
/// names (a provide's `=VERSION` is cut off). A `so-ver:NAME>=VERSION` dependency is compared,
/// and kept, without its `>=VERSION`, as melange does.
pub fn remove_self_provided(depends: &[String], provides: &[String]) -> Vec<String> {
    let provided: std::collections::HashSet<&str> = provides
        .iter()
        .map(|p| p.split('=').next().unwrap_or(p))
        .collect();
    depends
        .iter()
        .map(|d| match d.starts_with("so-ver:") {
            true => d.split(">=").next().unwrap_or(d),
            false => d.as_str(),
        })
        .filter(|d| !provided.contains(d))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_in_dir_follows_melange() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("/dir/file", &["/dir"], true),
            ("/dir/file", &["/dir/"], true),
            ("/dir/file", &["/otherdir"], false),
            ("/dir/subdir/file", &["/dir"], false),
            ("/dir/subdir/file", &["/dir/"], false),
            ("/dir/file", &["/dir/..."], true),
            ("/dir/subdir/file", &["/dir/..."], true),
            ("/dir/subdir/subdir/file", &["/dir/..."], true),
            ("/otherdir/file", &["/dir/..."], false),
            ("/dirother/file", &["/dir/..."], false),
            ("usr/lib/file", &["usr/lib"], true),
            ("usr/lib/file", &["usr/lib/"], true),
            ("usr/lib/subdir/file", &["usr/lib"], false),
            ("usr/lib/subdir/file", &["usr/lib/..."], true),
            ("/dir/file", &["/other", "/dir", "/another"], true),
            ("/dir/file", &["/other", "/another"], false),
            ("/dir/file", &[], false),
            ("/file", &["/"], true),
            ("usr/libexec/x/lib/libfoo.so.1", &LIB_DIRS, false),
        ];
        for (path, dirs, want) in cases {
            assert_eq!(is_in_dir(path, dirs), *want, "{path} in {dirs:?}");
        }
    }

    #[test]
    fn soname_versions() {
        assert_eq!(soname_libver("libfoo.so.1"), "1");
        assert_eq!(soname_libver("libfoo.so.1.2.3"), "1.2.3");
        assert_eq!(soname_libver("libaws-c-s3.so.0unstable"), "0");
        assert_eq!(soname_libver("libfoo.so"), "0");
        assert_eq!(soname_libver("libfoo-1.so"), "0");
    }

    #[test]
    fn interpreters() {
        assert_eq!(
            interpreter_dependency("/lib64/ld-linux-x86-64.so.2"),
            "so:ld-linux-x86-64.so.2"
        );
        assert_eq!(
            interpreter_dependency("/lib/ld-musl-x86_64.so.1"),
            "so:libc.musl-x86_64.so.1"
        );
    }

    #[test]
    fn shebangs_as_melange_reads_them() {
        let ok = |text: &str, want: Option<&str>| {
            assert_eq!(
                shebang(text.as_bytes()).unwrap().as_deref(),
                want,
                "{text:?}"
            );
        };
        ok("#!/usr/bin/env bash\n", Some("bash"));
        ok(
            "#!/usr/bin/env python3.12\nwith open...\n",
            Some("python3.12"),
        );
        ok("#!/bin/sh\necho hi world\n", None);
        ok("#!/bin/dash\necho hi world\n", Some("/bin/dash"));
        ok("#!/usr/bin/env -S bash -x\necho hi world\n", Some("bash"));
        ok("cs101 assignment", None);
        ok("#!/usr/bin/perl", Some("/usr/bin/perl"));
        ok("#!   \n", None);
        ok("#!\t\n", None);
        ok("#!\n", None);
        ok("#!/usr/bin/python3\n", None);
        ok("#!/usr/bin/env luajit\n", None);
        ok("x", None);
        ok("", None);
        let err = shebang(b"#!/usr/bin/env bash -x\necho hi world\n").unwrap_err();
        assert!(err.contains("multiple arguments"), "{err}");
        assert!(shebang(b"#!/usr/bin/env\n").is_err());
        // Only the first 80 bytes count: a longer interpreter path is cut there.
        let long = format!("#!/{}\n", "a".repeat(200));
        assert_eq!(shebang(long.as_bytes()).unwrap().unwrap().len(), 78);
    }

    #[test]
    fn python_directories() {
        assert_eq!(python_version("python3.12"), Some("3.12"));
        assert_eq!(python_version("python"), None);
        assert_eq!(python_version("lib"), None);
    }

    #[test]
    fn pkgconfig_requires_all_three_lists() {
        let pc = "prefix=/usr\nlibdir=${prefix}/lib\n\nName: foo\nVersion: 1.0\n\
                  Requires: glib-2.0 >= 2.50, zlib\n\
                  Requires.private: libffi,  gio-2.0 = 2.1 \n\
                  Requires.internal: x11\n# Requires: commented\nLibs: -lfoo\n";
        assert_eq!(
            pkgconfig_requires(pc).unwrap(),
            ["glib-2.0", "zlib", "libffi", "gio-2.0", "x11"]
        );
        assert_eq!(
            pkgconfig_requires("Requires:\n").unwrap(),
            Vec::<String>::new()
        );
        let err = pkgconfig_requires("Name: x\nRequires: ${dep}\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(pkgconfig_requires("Requires: foo >=\n").is_err());
    }

    #[test]
    fn ld_so_conf_lines() {
        assert_eq!(
            ld_so_conf_dirs("/my/lib/test\r\n# comment\ninclude x\n\n/opt/lib\n"),
            ["my/lib/test", "opt/lib"]
        );
    }

    #[test]
    fn self_provided_dependencies_go() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let provides = s(&["so:libfoo.so.3=3", "so:libbar.so.2=2", "cmd:x"]);
        let depends = s(&[
            "so:libbaz.so.4",
            "so:libfoo.so.3",
            "cmd:x",
            "so-ver:libbar.so.2>=1",
        ]);
        // `so-ver:NAME>=V` is compared, and kept, without its version.
        assert_eq!(
            remove_self_provided(&depends, &provides),
            s(&["so:libbaz.so.4", "so-ver:libbar.so.2"])
        );
        assert_eq!(remove_self_provided(&s(&["a", "b"]), &[]), s(&["a", "b"]));
    }

    #[test]
    fn names_that_would_break_pkginfo_are_not_usable() {
        assert!(usable_name("libfoo.so.1"));
        assert!(!usable_name("lib foo"));
        assert!(!usable_name("libfoo\n.so"));
        assert!(!usable_name(""));
        assert!(!usable_name(&"a".repeat(5000)));
    }
}
