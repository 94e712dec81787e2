//! Secrets stay out of the workspace (issue 15): a hostile step, as root and as uid 65534,
//! looks for the keys and files the user keeps in the source dir or names with flags, copies
//! everything it finds in /home/build into its package, and greps for private keys. The
//! default-named signing key (`melange.rsa`), the `--signing-key`, the `--env-file` and the
//! `--ca-bundle` are all in the source dir and all world-readable, so only melwrap's copy rule
//! keeps them out. The host then reads the package back: none of their contents is in it, while
//! the public key (`melange.rsa.pub`), which packages often ship, is.

use std::io::Read;
use std::path::Path;

use crate::build::common::*;

const STEP: &str = r#"r=/var/cache/melange/report
: > "$r"
for f in melange.rsa melange.rsa.pub release.key build.env corp-ca.crt; do
  if [ -e "/home/build/$f" ]; then echo "PRESENT $f" >> "$r"; fi
done
# Assembled at run time: melange.yaml (in the workspace) holds this script's text.
pattern="PRIVATE"" KEY"
if grep -rlsI "$pattern" /home/build >> "$r"; then echo "LEAK: a private key" >> "$r"; fi
leak="DESTDIR/leak"
mkdir -p "$leak"
find /home/build -path /home/build/melange-out -prune -o -type f -print | while read -r f; do
  cp "$f" "$leak/$(echo "$f" | tr / _)"
done
echo DONE >> "$r"
"#;

fn openssl_key(path: &Path) {
    let status = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(path)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl genrsa failed");
    open_file(path);
}

fn open_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A line from the middle of a PEM key: bytes that appear nowhere but in the key.
fn key_marker(path: &Path) -> String {
    let text = fs_err::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len() / 2].to_string()
}

/// Every byte of an `.apk`'s gzip members, decompressed (control and data tars).
fn package_bytes(path: &Path) -> Vec<u8> {
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(fs_err::File::open(path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    raw
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn keys_env_files_and_ca_bundles_in_the_source_dir_never_reach_a_step() {
    require_bwrap!();
    let ca = Path::new("/etc/ssl/certs/ca-certificates.crt");
    for who in users() {
        let t = TestEnv::new();
        let pid = std::process::id();
        t.config(&format!(
            "pipeline:\n  - name: take the secrets\n    runs: |\n{}",
            STEP.replace("DESTDIR", "${{targets.destdir}}")
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        ));
        let default_key = t.src().join("melange.rsa");
        openssl_key(&default_key);
        fs_err::write(
            t.src().join("melange.rsa.pub"),
            format!("PUBLIC-HALF-{pid}\n"),
        )
        .unwrap();
        let release_key = t.src().join("release.key");
        openssl_key(&release_key);
        let env_file = t.write(
            "build.env",
            &format!("# ENV-FILE-COMMENT-{pid}\nGREETING=hello\n"),
        );
        let mut args = vec![
            "--no-network",
            "--signing-key",
            "src/release.key",
            "--env-file",
            "src/build.env",
        ];
        if ca.is_file() {
            fs_err::copy(ca, t.src().join("corp-ca.crt")).unwrap();
            args.extend(["--ca-bundle", "src/corp-ca.crt"]);
        }
        for f in [&default_key, &release_key, &env_file] {
            open_file(f);
        }

        let run = t.build(who, &args);
        run.ok();
        let report = t.cached("report");
        assert!(report.ends_with("DONE\n"), "{who:?}: {report}\n{run}");
        assert_eq!(
            report, "PRESENT melange.rsa.pub\nDONE\n",
            "{who:?}: the step saw secrets\n{run}"
        );
        assert!(
            run.stderr.contains("not copied into the workspace")
                && run.stderr.contains("melange.rsa")
                && run.stderr.contains("build.env"),
            "{who:?}: the user is told what was left out\n{run}"
        );

        let arch = melwrap::compile::Arch::host().unwrap().apk;
        let apk = t.out().join(arch).join("test-pkg-1.0.0-r0.apk");
        let bytes = package_bytes(&apk);
        assert!(
            contains(&bytes, &format!("PUBLIC-HALF-{pid}")),
            "{who:?}: the step's copy reached the package (the public key is in it)"
        );
        for (what, marker) in [
            ("melange.rsa", key_marker(&default_key)),
            ("release.key", key_marker(&release_key)),
            ("build.env", format!("ENV-FILE-COMMENT-{pid}")),
        ] {
            assert!(
                !contains(&bytes, &marker),
                "{who:?}: {what} is in the package"
            );
        }
    }
}
