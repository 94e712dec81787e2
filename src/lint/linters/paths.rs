//! The linters that look only at names, kinds and modes.

use super::{
    CUDA_DRIVER_LIB, DOCUMENTATION, Entry, Found, INFO, MAN, Outcome, PKGCONF_DIR, SHARED_OBJECT,
    Subject, TEMP_DIR, all_paths, ignored, plural, under,
};

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
