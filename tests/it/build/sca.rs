//! Dependency scanning on real builds (issue 16): gcc builds a shared library and a program
//! that links it, a `-dev` package ships a `.pc` file and the `libfoo.so` link, scripts and
//! Python modules, a static program; each `.PKGINFO` is read back by the independent Python
//! reader (tests/it/apk/read_apk.py) and checked against melange's rules. Then the chain:
//! the library's package satisfies the program's `so:` dependency in `melwrap resolve`.

use std::path::{Path, PathBuf};

use crate::build::common::*;

/// `.PKGINFO` of `out/<arch>/<file>` as (key, value) pairs, read by the Python reader;
/// `# vendored = X` comments come back as ("# vendored", X).
pub fn pkginfo(apk: &Path) -> Vec<(String, String)> {
    let doc = crate::apk::support::read_apk(apk, None);
    for m in doc["members"].as_array().unwrap() {
        for e in m["entries"].as_array().unwrap() {
            if e["name"] == ".PKGINFO" {
                let text = e["text"].as_str().unwrap();
                return text
                    .lines()
                    .filter(|l| !l.starts_with("# Generated"))
                    .filter_map(|l| l.split_once(" = "))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            }
        }
    }
    panic!("{} has no .PKGINFO", apk.display());
}

/// Every value of `key`.
pub fn all(info: &[(String, String)], key: &str) -> Vec<String> {
    info.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The single architecture directory a build wrote under `out`.
pub fn arch_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = fs_err::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one architecture directory in {}",
        out.display()
    );
    dirs[0].clone()
}

fn apk(out: &Path, name: &str) -> PathBuf {
    arch_dir(out).join(format!("{name}.apk"))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A library package, its `-dev` subpackage (the `libgreet.so` link, a `.pc` file), and a
/// private library with a program in `usr/libexec` that links it (vendored).
const LIBRARY: &str = r#"pipeline:
  - runs: |
      D=${{targets.destdir}}
      mkdir -p $D/usr/lib $D/usr/libexec/greet build
      printf 'int greet(void) { return 42; }\n' > build/greet.c
      gcc -shared -fPIC -Wl,-soname,libgreet.so.1 -o $D/usr/lib/libgreet.so.1.2.3 build/greet.c
      ln -s libgreet.so.1.2.3 $D/usr/lib/libgreet.so.1
      printf 'int priv(void) { return 1; }\n' > build/priv.c
      gcc -shared -fPIC -Wl,-soname,libpriv.so.0 -o $D/usr/libexec/greet/libpriv.so.0 build/priv.c
      printf 'int priv(void); int main(void) { return priv(); }\n' > build/helper.c
      gcc -o $D/usr/libexec/greet/helper build/helper.c -L$D/usr/libexec/greet -l:libpriv.so.0 \
        -Wl,-rpath,'$ORIGIN'
      printf 'Name: private\nVersion: 1\n' > $D/usr/libexec/greet/private.pc
subpackages:
  - name: test-pkg-dev
    pipeline:
      - runs: |
          D=${{targets.subpkgdir}}
          mkdir -p $D/usr/lib/pkgconfig
          ln -s libgreet.so.1 $D/usr/lib/libgreet.so
          printf 'prefix=/usr\nName: greet\nVersion: 1.2.3\nRequires: zlib >= 1.2, libffi\nRequires.private: openssl\nLibs: -L${prefix}/lib -lgreet\n' \
            > $D/usr/lib/pkgconfig/greet.pc
"#;

#[test]
fn a_shared_library_its_dev_package_and_a_vendored_library() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(LIBRARY);
    let log = t.root().join("deps");
    let log_arg = log.display().to_string();
    t.build(
        Who::Root,
        &["--rootfs", "host", "--dependency-log", &log_arg],
    )
    .ok();
    let out = t.out();

    let lib = pkginfo(&apk(&out, "test-pkg-1.0.0-r0"));
    // The SONAME of a file in usr/lib, with melange's two provides; the link to it in the same
    // package asks for the same SONAME, which the package provides itself: no such depend.
    assert_eq!(
        all(&lib, "provides"),
        s(&["so-ver:libgreet.so.1=1.0.0-r0", "so:libgreet.so.1=1"])
    );
    let depends = all(&lib, "depend");
    assert!(
        !depends.iter().any(|d| d.starts_with("so:libgreet")),
        "{depends:?}"
    );
    // The helper needs libpriv.so.0, which the package ships outside the library directories:
    // vendored, so the generated depend is dropped; the helper's interpreter and libc stay.
    assert!(
        !depends.contains(&"so:libpriv.so.0".to_string()),
        "{depends:?}"
    );
    assert!(depends.contains(&"so:libc.so.6".to_string()), "{depends:?}");
    assert!(
        depends.iter().any(|d| d.starts_with("so:ld-linux")),
        "the helper's interpreter: {depends:?}"
    );
    assert_eq!(
        all(&lib, "# vendored"),
        s(&[
            "pc:private=1.0.0-r0",
            "so-ver:libpriv.so.0=1.0.0-r0",
            "so:libpriv.so.0=0"
        ])
    );

    let dev = pkginfo(&apk(&out, "test-pkg-dev-1.0.0-r0"));
    // The .pc file is provided with the package's version; its Requires and Requires.private
    // become pc: depends; the libgreet.so link depends on the SONAME of the file it names in
    // the library package.
    assert_eq!(all(&dev, "provides"), s(&["pc:greet=1.0.0-r0"]));
    assert_eq!(
        all(&dev, "depend"),
        s(&["pc:libffi", "pc:openssl", "pc:zlib", "so:libgreet.so.1"])
    );

    // The index carries the same lists (`p:` and `D:`), read by the same independent reader.
    let index = crate::apk::support::read_apk(&arch_dir(&out).join("APKINDEX.tar.gz"), None);
    let text = index["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["entries"].as_array().unwrap().clone())
        .find(|e| e["name"] == "APKINDEX")
        .expect("an APKINDEX entry")["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("\np:so-ver:libgreet.so.1=1.0.0-r0 so:libgreet.so.1=1\n"),
        "{text}"
    );
    assert!(
        text.contains("\nD:pc:libffi pc:openssl pc:zlib so:libgreet.so.1\n"),
        "{text}"
    );

    // The log names each finding's file and rule, per package.
    let text = fs_err::read_to_string(format!("{}.{}", log.display(), arch_of(&out))).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2);
    let finding = packages[1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["value"] == "so:libgreet.so.1")
        .expect("the dev package's so: depend is explained");
    assert_eq!(finding["path"], "usr/lib/libgreet.so");
    assert_eq!(packages[0]["vendored"].as_array().unwrap().len(), 3);
    assert_eq!(
        packages[1]["pkginfo"]["depend"].as_array().unwrap().len(),
        4,
        "{text}"
    );
}

fn arch_of(out: &Path) -> String {
    arch_dir(out)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn scripts_python_modules_and_the_options_that_switch_scanning_off() {
    require_bwrap!();
    let t = TestEnv::new();
    let files = r#"
          mkdir -p $D/usr/bin $D/usr/lib/python3.12/site-packages/greet
          printf '#!/bin/bash\necho hi\n' > $D/usr/bin/hello-bash
          printf '#!/usr/bin/env -S perl -w\nprint 1;\n' > $D/usr/bin/hello-perl
          printf '#!/usr/bin/python3.11\nprint(1)\n' > $D/usr/bin/hello-py
          printf '#!/bin/sh\necho plain\n' > $D/usr/bin/hello-sh
          printf '#!/usr/bin/env python3\nprint(1)\n' > $D/usr/bin/hello-py3
          printf 'no shebang\n' > $D/usr/bin/data.txt
          chmod 755 $D/usr/bin/hello-*
          printf 'x = 1\n' > $D/usr/lib/python3.12/site-packages/greet/__init__.py
"#;
    t.config(&format!(
        r#"  dependencies:
    runtime: [busybox]
pipeline:
  - runs: |
      D=${{{{targets.destdir}}}}
{files}
subpackages:
  - name: quiet
    dependencies:
      runtime: [busybox]
    options:
      no-depends: true
      no-provides: true
    pipeline:
      - runs: |
          D=${{{{targets.subpkgdir}}}}
{files}
  - name: nocmd
    options:
      no-commands: true
    pipeline:
      - runs: |
          D=${{{{targets.subpkgdir}}}}
{files}
  - name: ownpython
    dependencies:
      runtime: [python-3.12]
    pipeline:
      - runs: |
          D=${{{{targets.subpkgdir}}}}
{files}
"#
    ));
    // The header puts `dependencies` under `package:` (the config body starts inside it).
    let text = fs_err::read_to_string(t.src().join("melange.yaml")).unwrap();
    assert!(text.contains("  dependencies:\n    runtime: [busybox]\npipeline"));
    t.build(Who::Root, &["--rootfs", "host"]).ok();
    let out = t.out();

    let main = pkginfo(&apk(&out, "test-pkg-1.0.0-r0"));
    // bash and perl by shebang (env -S takes the next word; a path gives its base name),
    // python3.11 by its versioned path; sh and python3 are ignored, as melange does.
    assert_eq!(
        all(&main, "depend"),
        s(&[
            "busybox",
            "cmd:bash",
            "cmd:perl",
            "cmd:python3.11",
            "python-3.12-base"
        ])
    );
    // Executable regular files in usr/bin; data.txt is not executable. Sorted as bytes
    // (`3` before `=`).
    let cmds: Vec<String> = [
        "hello-bash",
        "hello-perl",
        "hello-py3",
        "hello-py",
        "hello-sh",
    ]
    .iter()
    .map(|c| format!("cmd:{c}=1.0.0-r0"))
    .collect();
    assert_eq!(all(&main, "provides"), cmds);

    // no-depends and no-provides: nothing generated, the configured runtime stays.
    let quiet = pkginfo(&apk(&out, "quiet-1.0.0-r0"));
    assert_eq!(all(&quiet, "depend"), s(&["busybox"]));
    assert!(all(&quiet, "provides").is_empty());

    // no-commands: no cmd: provides or depends, the Python runtime stays.
    let nocmd = pkginfo(&apk(&out, "nocmd-1.0.0-r0"));
    assert_eq!(all(&nocmd, "depend"), s(&["python-3.12-base"]));
    assert!(all(&nocmd, "provides").is_empty());

    // A configured python dependency replaces the generated one.
    let own = pkginfo(&apk(&out, "ownpython-1.0.0-r0"));
    let depends = all(&own, "depend");
    assert!(depends.contains(&"python-3.12".to_string()), "{depends:?}");
    assert!(
        !depends.contains(&"python-3.12-base".to_string()),
        "{depends:?}"
    );
}

#[test]
fn a_static_program_provides_its_command_and_needs_no_library() {
    require_bwrap!();
    let t = TestEnv::new();
    let go = which::which("go").is_ok();
    let build = if go {
        t.write(
            "hello/main.go",
            "package main\n\nfunc main() { println(\"hi\") }\n",
        );
        t.write("hello/go.mod", "module example.com/hello\n\ngo 1.19\n");
        "cd hello && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local GOCACHE=$PWD/.gocache \
         go build -o ${{targets.destdir}}/usr/bin/hello ."
    } else {
        eprintln!("go is not installed: a static C program stands in for the Go one");
        t.write("hello.c", "int main(void) { return 0; }\n");
        "gcc -static -o ${{targets.destdir}}/usr/bin/hello hello.c"
    };
    t.config(&format!(
        "pipeline:\n  - runs: |\n      mkdir -p ${{{{targets.destdir}}}}/usr/bin\n      {build}\n"
    ));
    t.build(Who::Root, &["--rootfs", "host"]).ok();
    let info = pkginfo(&apk(&t.out(), "test-pkg-1.0.0-r0"));
    assert_eq!(all(&info, "provides"), s(&["cmd:hello=1.0.0-r0"]));
    assert!(all(&info, "depend").is_empty(), "{info:?}");
}

/// The program of the chain: links libgreet (built in the workspace, not packaged here).
const PROGRAM: &str = r#"pipeline:
  - runs: |
      D=${{targets.destdir}}
      mkdir -p $D/usr/bin build
      printf 'int greet(void) { return 42; }\n' > build/greet.c
      gcc -shared -fPIC -Wl,-soname,libgreet.so.1 -o build/libgreet.so build/greet.c
      printf 'int greet(void); int main(void) { return greet() == 42 ? 0 : 1; }\n' > build/main.c
      gcc -o $D/usr/bin/greet build/main.c -Lbuild -lgreet
"#;

#[test]
fn the_library_package_satisfies_the_programs_so_depend_in_resolve() {
    require_bwrap!();
    let t = TestEnv::new();
    let key = t.root().join("test.rsa");
    let key_arg = key.display().to_string();
    let keygen = t
        .melwrap(Who::Root)
        .args(["keygen", &key_arg, "--key-size", "2048"])
        .output()
        .unwrap();
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let build = |name: &str, body: &str| {
        let path = t.write(&format!("{name}.yaml"), &package_yaml(name, body));
        let run = t
            .melwrap(Who::Root)
            .args(["build"])
            .arg(&path)
            .args([
                "--out-dir",
                "out",
                "--cache-dir",
                "cache",
                "--rootfs",
                "host",
            ])
            .args(["--signing-key", &key_arg])
            .output()
            .unwrap();
        Run::from(run).ok();
    };
    build("greet", PROGRAM);
    let out = t.out();
    let prog = pkginfo(&apk(&out, "greet-1.0.0-r0"));
    let depends = all(&prog, "depend");
    assert!(
        depends.contains(&"so:libgreet.so.1".to_string()),
        "{depends:?}"
    );
    // Whatever else the program needs (libc, its interpreter) comes from a stub of the
    // system's packages, so the resolution below turns on the library alone.
    let system: Vec<String> = depends
        .iter()
        .filter(|d| *d != "so:libgreet.so.1")
        .map(|d| format!("{d}=1"))
        .collect();
    assert!(!system.is_empty(), "the program needs libc: {depends:?}");
    build(
        "system-stub",
        &format!(
            "  dependencies:\n    provides: [{}]\npipeline:\n  - runs: 'true'\n",
            system.join(", ")
        ),
    );
    let arch = arch_of(&out);
    let resolve = |out_dir: &Path| {
        t.melwrap(Who::Root)
            .args(["resolve", "--arch", &arch, "-r"])
            .arg(out_dir)
            .args(["-k", &format!("{key_arg}.pub"), "--package-append", "greet"])
            .output()
            .unwrap()
    };
    // Without the library's package nothing provides so:libgreet.so.1.
    let without = resolve(&out);
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success(), "resolved without the library");
    assert!(err.contains("so:libgreet.so.1"), "{err}");

    build("libgreet", LIBRARY_ONLY);
    let with = resolve(&out);
    let text = String::from_utf8_lossy(&with.stdout);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let names: Vec<&str> = text.lines().collect();
    assert!(names.contains(&"libgreet-1.0.0-r0"), "{text}");
    assert!(names.contains(&"greet-1.0.0-r0"), "{text}");
}

const LIBRARY_ONLY: &str = r#"pipeline:
  - runs: |
      D=${{targets.destdir}}
      mkdir -p $D/usr/lib build
      printf 'int greet(void) { return 42; }\n' > build/greet.c
      gcc -shared -fPIC -Wl,-soname,libgreet.so.1 -o $D/usr/lib/libgreet.so.1.2.3 build/greet.c
      ln -s libgreet.so.1.2.3 $D/usr/lib/libgreet.so.1
"#;

#[test]
fn a_dependency_log_in_a_missing_directory_fails_before_any_step() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr\n");
    let run = t.build(
        Who::Root,
        &["--rootfs", "host", "--dependency-log", "missing/deps"],
    );
    run.exit(2);
    assert!(run.stderr.contains("missing/deps"), "{run}");
    assert!(run.stderr.contains("--dependency-log"), "{run}");
    let apks = crate::support::walk(&t.out())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "apk"))
        .count();
    assert_eq!(apks, 0, "the build went on: {run}");
    // The same build with an existing directory writes its package.
    t.build(Who::Root, &["--rootfs", "host"]).ok();
    assert!(apk(&t.out(), "test-pkg-1.0.0-r0").exists());
}

#[test]
fn perl_ruby_and_doc_packages_need_their_runtimes() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        r#"pipeline:
  - runs: |
      D=${{targets.destdir}}
      mkdir -p $D/usr/lib/perl5/vendor_perl/JSON $D/usr/lib/ruby/gems/3.2.0/gems/base64-0.2.0
      printf 'package JSON; 1;\n' > $D/usr/lib/perl5/vendor_perl/JSON.pm
      printf 'module Base64; end\n' > $D/usr/lib/ruby/gems/3.2.0/gems/base64-0.2.0/base64.rb
subpackages:
  - name: test-pkg-doc
    pipeline:
      - runs: |
          D=${{targets.subpkgdir}}
          mkdir -p $D/usr/share/man/man1 $D/usr/share/info
          printf '.TH X 1\n' > $D/usr/share/man/man1/x.1
          printf 'info\n' > $D/usr/share/info/x.info
  - name: other-doc-files
    pipeline:
      - runs: |
          D=${{targets.subpkgdir}}
          mkdir -p $D/usr/share/man/man1
          printf '.TH X 1\n' > $D/usr/share/man/man1/x.1
"#,
    );
    t.build(Who::Root, &["--rootfs", "host"]).ok();
    let out = t.out();
    let main = pkginfo(&apk(&out, "test-pkg-1.0.0-r0"));
    assert_eq!(all(&main, "depend"), s(&["perl~5", "ruby-3.2"]));
    let doc = pkginfo(&apk(&out, "test-pkg-doc-1.0.0-r0"));
    assert_eq!(all(&doc, "depend"), s(&["man-db", "texinfo"]));
    // Only a package named `-doc` gets the documentation readers.
    let other = pkginfo(&apk(&out, "other-doc-files-1.0.0-r0"));
    assert!(all(&other, "depend").is_empty(), "{other:?}");
}
