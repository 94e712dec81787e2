//! HTTPS: a repository behind `openssl s_server -WWW` with a certificate from a throwaway CA.
//! Untrusted (not in the system store): refused with the cause and not retried; with the CA
//! given as `--ca-bundle`: downloaded and verified. Skipped without an `openssl` binary.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use melwrap::cli::Verbosity;
use melwrap::printer::Printer;
use melwrap::repo::cache::{ApkCache, Network};
use melwrap::repo::fetch::{FetchOptions, Fetcher};

use crate::repo::fixture::{ARCH, fixture, wanted};

fn openssl(dir: &Path, args: &[&str]) {
    crate::support::stdout_of(Command::new("openssl").args(args).current_dir(dir));
}

/// `ca.pem` and a `server.pem`/`server.key` for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=melwrap test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server -WWW` serving `root` on a free loopback port.
fn serve(certs: &Path, root: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(certs.join("server.pem"))
        .arg("-key")
        .arg(certs.join("server.key"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[test]
fn https_needs_a_trusted_certificate_and_takes_a_ca_bundle() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl");
        return;
    }
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    certificates(t.path());
    let (_server, port) = serve(t.path(), &f.repo_a);
    let repo = format!("https://127.0.0.1:{port}");
    let printer = Printer::new(Verbosity::Quiet);
    let check = crate::repo::cache::check_index;

    let cache = ApkCache::open(&t.path().join("c1")).unwrap();
    let plain = Fetcher::new(FetchOptions::default()).unwrap();
    let start = Instant::now();
    let err = cache
        .index(&plain, Network::Online, &printer, &repo, ARCH, &check)
        .unwrap_err();
    let msg = format!("{err:?}");
    assert!(
        msg.contains(&format!("{repo}/{ARCH}/APKINDEX.tar.gz")),
        "{msg}"
    );
    assert!(
        msg.to_lowercase().contains("certificate") || msg.contains("issuer"),
        "{msg}"
    );
    assert!(
        !msg.contains("attempts"),
        "a TLS failure is not retried: {msg}"
    );
    assert!(msg.contains("--ca-bundle"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(10));

    let trusting = Fetcher::new(FetchOptions {
        ca_bundle: Some(t.path().join("ca.pem")),
        ..FetchOptions::default()
    })
    .unwrap();
    let cache = ApkCache::open(&t.path().join("c2")).unwrap();
    let idx = cache
        .index(&trusting, Network::Online, &printer, &repo, ARCH, &check)
        .unwrap();
    assert!(idx.fresh);
    let got = cache
        .packages(
            &trusting,
            Network::Online,
            &printer,
            &wanted(&f.repo_a, &repo),
        )
        .unwrap();
    assert_eq!(got.len(), 2);
}
