//! Every linter melange has: one build whose subpackages each trip one linter, and a main
//! package that trips none. The build runs every linter as a warning (so it completes and
//! prints all findings), then again with melange's defaults, where the required linters fail it
//! before any package is written.

use melwrap::lint::elf;

use super::*;

/// (linter, what the step does in `$D` (the subpackage's destdir), the path it must name).
const TRIPS: &[(&str, &str, &str)] = &[
    ("dev", "mkdir -p $D/dev && echo x > $D/dev/node", "dev/node"),
    (
        "documentation",
        "mkdir -p $D/usr/share/x && echo x > $D/usr/share/x/README",
        "usr/share/x/README",
    ),
    ("opt", "mkdir -p $D/opt/x && echo x > $D/opt/x/f", "opt/x/f"),
    (
        "object",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/a.o",
        "usr/lib/a.o",
    ),
    (
        "maninfo",
        "mkdir -p $D/usr/share/man/man1 && echo x > $D/usr/share/man/man1/x.1",
        "usr/share/man/man1/x.1",
    ),
    (
        "sbom",
        "mkdir -p $D/var/lib/db/sbom && echo x > $D/var/lib/db/sbom/notes.txt",
        "var/lib/db/sbom/notes.txt",
    ),
    (
        "setuidgid",
        "mkdir -p $D/usr/bin && echo x > $D/usr/bin/su && chmod 4755 $D/usr/bin/su",
        "usr/bin/su (mode 4755: setuid)",
    ),
    (
        "srv",
        "mkdir -p $D/srv/www && echo x > $D/srv/www/i",
        "srv/www/i",
    ),
    (
        "tempdir",
        "mkdir -p $D/var/tmp && echo x > $D/var/tmp/t",
        "var/tmp/t",
    ),
    (
        "usrlocal",
        "mkdir -p $D/usr/local/bin && echo x > $D/usr/local/bin/l",
        "usr/local/bin/l",
    ),
    (
        "varempty",
        "mkdir -p $D/var/empty && echo x > $D/var/empty/e",
        "var/empty/e",
    ),
    (
        "worldwrite",
        "mkdir -p $D/usr/share/w && echo x > $D/usr/share/w/f && chmod 666 $D/usr/share/w/f",
        "usr/share/w/f (mode 666: world-writable)",
    ),
    (
        "strip",
        "install -D -m755 elf-debug $D/usr/bin/dbg",
        "usr/bin/dbg",
    ),
    (
        "infodir",
        "mkdir -p $D/usr/share/info && echo x > $D/usr/share/info/dir",
        "usr/share/info/dir",
    ),
    ("empty", "true", ""),
    (
        "python/docs",
        "mkdir -p $D/usr/lib/python3.12/site-packages/docs && echo x > $D/usr/lib/python3.12/site-packages/docs/i",
        "usr/lib/python3.12/site-packages/docs",
    ),
    (
        "python/multiple",
        "mkdir -p $D/usr/lib/python3.12/site-packages/a $D/usr/lib/python3.12/site-packages/b",
        "",
    ),
    (
        "python/test",
        "mkdir -p $D/usr/lib/python3.12/site-packages/tests && echo x > $D/usr/lib/python3.12/site-packages/tests/t",
        "usr/lib/python3.12/site-packages/tests",
    ),
    (
        "pkgconf",
        "mkdir -p $D/usr/lib/pkgconfig && echo x > $D/usr/lib/pkgconfig/x.pc",
        "usr/lib/pkgconfig/x.pc",
    ),
    (
        "lddcheck",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/libx.so.1",
        "usr/lib/libx.so.1",
    ),
    (
        "usrmerge",
        "mkdir -p $D/sbin && echo x > $D/sbin/s",
        "sbin/s",
    ),
    (
        "cudaruntimelib",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/libcuda.so.1",
        "usr/lib/libcuda.so.1",
    ),
    (
        "dll",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/w.dll",
        "usr/lib/w.dll",
    ),
    (
        "dylib",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/m.dylib",
        "usr/lib/m.dylib",
    ),
    (
        "nonlinux",
        "mkdir -p $D/usr/share/darwin && echo x > $D/usr/share/darwin/f",
        "usr/share/darwin/f (macos)",
    ),
    (
        "unsupportedarch",
        "mkdir -p $D/usr/share/x && echo x > $D/usr/share/x/tool-s390x.bin",
        "usr/share/x/tool-s390x.bin (s390x)",
    ),
    (
        "binaryarch",
        "install -D -m755 elf-riscv $D/usr/bin/rv",
        "usr/bin/rv (riscv)",
    ),
    (
        "staticarchive",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/libx.a",
        "usr/lib/libx.a",
    ),
    (
        "libtool/la-files",
        "mkdir -p $D/usr/lib && echo x > $D/usr/lib/libx.la",
        "usr/lib/libx.la",
    ),
    (
        "duplicate",
        "mkdir -p $D/usr/share/a $D/usr/share/b && head -c 2048 /dev/zero > $D/usr/share/a/blob && cp $D/usr/share/a/blob $D/usr/share/b/blob",
        "blob: 2 copies, 2048 bytes wasted: usr/share/a/blob, usr/share/b/blob",
    ),
];

/// A package tripping nothing: a script, a data file, a config file, a stripped-looking ELF
/// for this machine, and a library with its tests configured.
const CLEAN: &str = "mkdir -p $D/usr/bin $D/usr/share/hello $D/etc $D/usr/lib/pkgconfig
      printf '#!/bin/sh\\necho hi\\n' > $D/usr/bin/hello && chmod 755 $D/usr/bin/hello
      echo data > $D/usr/share/hello/data.txt
      echo conf > $D/etc/hello.conf
      install -m755 elf-clean $D/usr/bin/hello-bin
      echo x > $D/usr/lib/libhello.so.1
      echo x > $D/usr/lib/pkgconfig/hello.pc";

fn package_name(linter: &str) -> String {
    format!("trip-{}", linter.replace('/', "-"))
}

fn config() -> String {
    let mut subs = String::new();
    for (linter, script, _) in TRIPS {
        subs.push_str(&format!(
            "  - name: {}\n    pipeline:\n      - runs: |\n          D=${{{{targets.contextdir}}}}\n          {script}\n",
            package_name(linter)
        ));
    }
    format!(
        "pipeline:\n  - runs: |\n      D=${{{{targets.destdir}}}}\n      {CLEAN}\ntest:\n  pipeline:\n    - uses: test/pkgconf\n    - uses: test/ldd-check\nsubpackages:\n{subs}"
    )
}

fn setup() -> TestEnv {
    let t = TestEnv::new();
    t.config(&config());
    let machine = if cfg!(target_arch = "aarch64") {
        elf::EM_AARCH64
    } else {
        elf::EM_X86_64
    };
    for (name, bytes) in [
        ("elf-debug", elf::synthesize(machine, &[".text", ".debug"])),
        ("elf-riscv", elf::synthesize(elf::EM_RISCV, &[".text"])),
        ("elf-clean", elf::synthesize(machine, &[".text", ".symtab"])),
    ] {
        fs_err::write(t.src().join(name), bytes).unwrap();
        open_up(&t.src().join(name));
    }
    // The test pipelines named in the config only need to exist (the build does not run them).
    for name in ["pkgconf", "ldd-check"] {
        t.write(&format!("pipelines/test/{name}.yaml"), "runs: |\n  true\n");
    }
    t
}

#[test]
fn each_linter_trips_on_its_package_and_not_on_a_clean_one() {
    require_bwrap!();
    assert_eq!(
        TRIPS.len(),
        melwrap::lint::LINTERS.len(),
        "one case per linter"
    );
    let t = setup();
    let all = melwrap::lint::all_names().join(",");
    let lint_warn = format!("--lint-warn={all}");
    let run = build(
        &t,
        &[
            "--pipeline-dir",
            "src/pipelines",
            "--lint-require=",
            &lint_warn,
        ],
    );
    run.ok();
    let found = by_package(&findings(&run.stderr));
    assert!(
        !found.contains_key("test-pkg"),
        "the clean package tripped linters: {:?}\n{run}",
        found.get("test-pkg")
    );
    for (linter, _, path) in TRIPS {
        let name = package_name(linter);
        let ours = found.get(&name).cloned().unwrap_or_default();
        let hit = ours.iter().find(|f| f.linter == *linter);
        let Some(hit) = hit else {
            panic!("{name}: no [{linter}] finding; got {ours:?}\n{run}");
        };
        assert!(!hit.error, "{name}: a warning was printed as an error");
        if !path.is_empty() {
            assert!(
                hit.paths.iter().any(|p| p == path),
                "{name}: [{linter}] does not name {path:?}: {:?}",
                hit.paths
            );
        }
    }
    // Everything was a warning: every package was written, each with its SBOM.
    assert_eq!(apks(&t.out()).len(), TRIPS.len() + 1);
}

#[test]
fn required_linters_fail_the_build_before_any_package_is_written() {
    require_bwrap!();
    let t = setup();
    let run = build(&t, &["--pipeline-dir", "src/pipelines"]);
    run.exit(1);
    let found = findings(&run.stderr);
    let errors: Vec<String> = found
        .iter()
        .filter(|f| f.error)
        .map(|f| f.linter.clone())
        .collect();
    let mut required = melwrap::lint::default_required();
    required.sort();
    let mut got = errors.clone();
    got.sort();
    got.dedup();
    assert_eq!(got, required, "{run}");
    // melange's default warnings stay warnings; `empty` and `documentation` do not run.
    for f in &found {
        if melwrap::lint::default_warn().contains(&f.linter) {
            assert!(!f.error, "{f:?}");
        }
        assert!(f.linter != "empty" && f.linter != "documentation", "{f:?}");
    }
    run.says("required linters failed, no package was written: ")
        .says("trip-dev [dev]");
    assert!(apks(&t.out()).is_empty(), "{:?}", apks(&t.out()));
    assert!(run.kept_workspace().is_some(), "{run}");
}
