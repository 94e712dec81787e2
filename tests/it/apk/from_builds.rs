//! Packages out of a real `melwrap build`: byte-for-byte reproducible across workspaces, and
//! their `.PKGINFO` says what the config says (substitutions and subpackages included).

use std::path::{Path, PathBuf};
use std::process::Command;

fn melwrap() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_melwrap"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    cmd
}

fn build(config: &Path, root: &Path, epoch: &str) -> PathBuf {
    let out = root.join("out");
    let status = melwrap()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", epoch)
        .arg("build")
        .arg(config)
        .arg("--cache-dir")
        .arg(root.join("cache"))
        .arg("--out-dir")
        .arg(&out)
        .arg("--workspace-dir")
        .arg(root.join("ws"))
        .arg("--no-network")
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    out.join(std::env::consts::ARCH)
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello/melange.yaml")
}

#[test]
fn two_builds_in_different_workspaces_give_identical_packages_and_index() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = files(&build(&example(), a.path(), "1700000000"));
    let second = files(&build(&example(), b.path(), "1700000000"));
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            // The (empty) lock concurrent index updates take turns on.
            ".APKINDEX.tar.gz.lock",
            "APKINDEX.tar.gz",
            "hello-1.0.0-r0.apk",
            "hello-doc-1.0.0-r0.apk"
        ]
    );
    assert_eq!(first.len(), second.len());
    for ((name, x), (_, y)) in first.iter().zip(&second) {
        assert!(x == y, "{name} differs between the two builds");
    }
    // A different build date must change the bytes, or the comparison above proves nothing.
    let c = tempfile::tempdir().unwrap();
    let third = files(&build(&example(), c.path(), "1700000001"));
    assert_ne!(
        first[1].1, third[1].1,
        "the build date must reach the package"
    );
}

#[test]
fn pkginfo_follows_the_config_with_substitutions_and_subpackages() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("melange.yaml");
    std::fs::write(
        &config,
        r#"package:
  name: tool
  version: 2.1.0
  epoch: 3
  description: "the ${{package.name}} tool"
  url: https://example.org/${{package.name}}
  copyright:
    - license: Apache-2.0
  setcap:
    - path: /usr/bin/tool
      add:
        cap_net_raw: "+ep"
      reason: needs raw sockets
  dependencies:
    runtime:
      - libfoo-${{vars.abi}}
    provides:
      - tool-compat=${{package.full-version}}
vars:
  abi: "7"
data:
  - name: flavours
    items:
      small: S
      big: B
pipeline:
  - runs: mkdir -p ${{targets.destdir}}/usr/bin && echo hi > ${{targets.destdir}}/usr/bin/tool
subpackages:
  - range: flavours
    name: tool-${{range.key}}
    description: "flavour ${{range.value}}"
    dependencies:
      runtime:
        - tool=${{package.full-version}}
    pipeline:
      - runs: mkdir -p ${{targets.subpkgdir}}/usr/share/${{range.key}}
"#,
    )
    .unwrap();
    let arch_dir = build(&config, dir.path(), "0");
    let pkginfo = |file: &str| -> String {
        let script = "import gzip,io,sys,tarfile,zlib\n\
            data=open(sys.argv[1],'rb').read()\n\
            d=zlib.decompressobj(31); ctl=d.decompress(data)\n\
            t=tarfile.open(fileobj=io.BytesIO(ctl+b'\\0'*1024))\n\
            sys.stdout.write(t.extractfile('.PKGINFO').read().decode())";
        crate::support::stdout_of(
            Command::new("python3")
                .arg("-c")
                .arg(script)
                .arg(arch_dir.join(file)),
        )
    };
    let main = pkginfo("tool-2.1.0-r3.apk");
    for line in [
        "pkgname = tool\n",
        "pkgver = 2.1.0-r3\n",
        "pkgdesc = the tool tool\n",
        "url = https://example.org/tool\n",
        "license = Apache-2.0\n",
        "depend = libfoo-7\n",
        "provides = tool-compat=2.1.0-r3\n",
        "origin = tool\n",
    ] {
        assert!(main.contains(line), "main .PKGINFO lacks {line:?}:\n{main}");
    }
    let big = pkginfo("tool-big-2.1.0-r3.apk");
    for line in [
        "pkgname = tool-big\n",
        "pkgdesc = flavour B\n",
        "depend = tool=2.1.0-r3\n",
        "origin = tool\n",
        "license = Apache-2.0\n",
    ] {
        assert!(
            big.contains(line),
            "subpackage .PKGINFO lacks {line:?}:\n{big}"
        );
    }
    assert!(arch_dir.join("tool-small-2.1.0-r3.apk").is_file());

    // The control section embeds the configuration as loaded, unset fields left out.
    let script = "import io,sys,tarfile,zlib\n\
        data=open(sys.argv[1],'rb').read()\n\
        ctl=zlib.decompressobj(31).decompress(data)\n\
        t=tarfile.open(fileobj=io.BytesIO(ctl+b'\\0'*1024))\n\
        sys.stdout.write(t.extractfile('.melange.yaml').read().decode())";
    let embedded = crate::support::stdout_of(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(arch_dir.join("tool-2.1.0-r3.apk")),
    );
    assert!(
        embedded.starts_with("package:\n  name: tool\n"),
        "{embedded}"
    );
    assert!(embedded.contains("range: flavours"), "{embedded}");
    assert!(
        !embedded.contains("attestation: ''"),
        "empty fields are left out:\n{embedded}"
    );

    // `setcap` reaches the data tar in the form the kernel returns for `setcap cap_net_raw+ep`
    // (revision 2; see tests/it/apk/setcap_kernel.rs).
    let script = "import io,sys,tarfile,zlib\n\
        data=open(sys.argv[1],'rb').read()\n\
        d=zlib.decompressobj(31); d.decompress(data); rest=d.unused_data\n\
        t=tarfile.open(fileobj=io.BytesIO(zlib.decompressobj(31).decompress(rest)))\n\
        m=t.getmember('usr/bin/tool')\n\
        v=m.pax_headers.get('SCHILY.xattr.security.capability','')\n\
        sys.stdout.write(v.encode('latin-1', 'surrogateescape').hex() if isinstance(v,str) else v.hex())";
    let stdout = crate::support::stdout_of(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(arch_dir.join("tool-2.1.0-r3.apk")),
    );
    assert_eq!(stdout, "0100000200200000000000000000000000000000");
}
