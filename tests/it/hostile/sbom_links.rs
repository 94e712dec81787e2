//! A step that prepares traps where melwrap writes each package's SBOM
//! (`var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json`) or where the linters read: the SBOM
//! is written through descriptors below the destdir, so a link on the way is refused (naming
//! it) and a link at the file's own name is replaced, never written through; the linters open
//! only regular files (a FIFO named like a library cannot block them, a link named like a
//! binary is not followed). Runs as root and as an ordinary uid.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::build::common::*;

/// A host directory the step cannot see, writable by `who`, holding `victim` (a file `who`
/// owns and could write).
fn host_dir(t: &TestEnv, who: Who) -> (PathBuf, PathBuf) {
    let dir = t.root().join("host-dir");
    fs_err::create_dir(&dir).unwrap();
    let victim = dir.join("victim");
    fs_err::write(&victim, "host\n").unwrap();
    for p in [&dir, &victim] {
        std::os::unix::fs::chown(p, Some(who.host_uid()), None).unwrap();
    }
    fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    fs_err::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, victim)
}

fn step(script: &str) -> String {
    let body: String = script.lines().map(|l| format!("      {l}\n")).collect();
    format!("pipeline:\n  - runs: |\n{body}")
}

#[test]
fn a_link_on_the_sbom_path_is_refused_and_a_link_at_its_name_is_replaced() {
    require_bwrap!();
    for who in users() {
        // `var/lib/db` is a link to a host directory: refused, nothing written there.
        let t = TestEnv::new();
        let (dir, _) = host_dir(&t, who);
        t.config(&step(&format!(
            "mkdir -p ${{{{targets.destdir}}}}/var/lib\n\
             ln -s {} ${{{{targets.destdir}}}}/var/lib/db\n",
            dir.display()
        )));
        let run = t.build(who, &["--rootfs", "host"]);
        assert_ne!(run.code, Some(0), "{who:?}: the build succeeded\n{run}");
        assert!(!run.stderr.contains("panicked"), "{who:?}:\n{run}");
        assert!(
            run.stderr.contains("var/lib/db: is a symbolic link"),
            "{who:?}: the message names the link\n{run}"
        );
        let mut names: Vec<String> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["victim"],
            "{who:?}: something was written on the host"
        );

        // The SBOM's own name is a link to a host file; beside it, a FIFO named like a
        // library and a link named like a binary, for the linters.
        let t = TestEnv::new();
        let (_, victim) = host_dir(&t, who);
        t.config(&step(&format!(
            "d=${{{{targets.destdir}}}}\n\
             mkdir -p $d/var/lib/db/sbom $d/usr/lib $d/usr/bin\n\
             ln -s {} $d/var/lib/db/sbom/test-pkg-1.0.0-r0.spdx.json\n\
             mkfifo -m 755 $d/usr/lib/libtrap.so.1\n\
             ln -s /usr/bin/env $d/usr/bin/linked\n",
            victim.display()
        )));
        let run = t.build(who, &["--rootfs", "host"]);
        run.ok();
        assert_eq!(
            fs_err::read_to_string(&victim).unwrap(),
            "host\n",
            "{who:?}"
        );
        let apk = crate::lint::apk_path(&t.out(), "test-pkg-1.0.0-r0.apk");
        let (_, files) = crate::lint::read_package(&apk);
        let sbom = &files["var/lib/db/sbom/test-pkg-1.0.0-r0.spdx.json"];
        let doc: serde_json::Value = serde_json::from_slice(sbom).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3", "{who:?}");
    }
}
