//! `uses: fetch` against a loopback HTTP server: the first build downloads the tarball and
//! stores it in the cache as `sha256:<hex>`; with the server gone and `--no-network`, the
//! second build gets it from the cache.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use sha2::Digest;

use crate::common::*;

/// A one-file HTTP/1.0 server on 127.0.0.1, on its own thread.
pub struct Server {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn serve(path: &'static str, body: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                let mut request = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let _ = reader.read_line(&mut request);
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let wanted = request.split_whitespace().nth(1).unwrap_or("");
                let reply = if wanted == path {
                    let mut head = format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: \
                         application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    head.extend_from_slice(&body);
                    head
                } else {
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
                };
                let _ = conn.write_all(&reply);
            }
        });
        Server {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stop listening: later connections are refused.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            t.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `.tar.gz` of `hello-1.0/greeting.txt`, made with the host's tar.
fn tarball(t: &TestEnv, text: &str) -> Vec<u8> {
    let dir = t.root().join("tarball");
    fs_err::create_dir_all(dir.join("hello-1.0")).unwrap();
    fs_err::write(dir.join("hello-1.0/greeting.txt"), text).unwrap();
    let status = Command::new("tar")
        .args(["-czf", "hello-1.0.tar.gz", "hello-1.0"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    fs_err::read(dir.join("hello-1.0.tar.gz")).unwrap()
}

#[test]
fn fetch_downloads_once_then_works_offline_from_the_cache() {
    require_bwrap!();
    for who in BOTH {
        if who == Who::Nobody && !can_drop_privileges() {
            continue;
        }
        let t = TestEnv::new();
        let body = tarball(&t, "greetings from the loopback server\n");
        let sha = hex::encode(sha2::Sha256::digest(&body));
        let mut server = Server::serve("/hello-1.0.tar.gz", body.clone());
        t.config(&format!(
            r#"pipeline:
  - uses: fetch
    with:
      uri: {url}
      expected-sha256: {sha}
      retry-limit: 1
  - name: use-the-source
    runs: cp greeting.txt /var/cache/melange/seen-{{{{build.arch}}}}.txt
"#,
            url = server.url("/hello-1.0.tar.gz")
        ));

        // First build: network on (the default), the server answers.
        t.build(who, &[]).ok();
        assert!(
            server.requests.load(Ordering::SeqCst) >= 1,
            "{who:?}: no download"
        );
        let blob = t.cache().join(format!("sha256:{sha}"));
        assert_eq!(
            fs_err::read(&blob).unwrap(),
            body,
            "{who:?}: the cache blob"
        );
        let seen = fs_err::read_dir(t.cache())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("seen-"))
            .expect("the step after fetch ran");
        assert_eq!(
            fs_err::read_to_string(seen.path()).unwrap(),
            "greetings from the loopback server\n"
        );
        fs_err::remove_file(seen.path()).unwrap();

        // Second build: server gone, no network: the cache must serve it.
        server.stop();
        let before = server.requests.load(Ordering::SeqCst);
        let run = t.build(who, &["--no-network"]);
        run.ok();
        assert!(run.stderr.contains("from the build cache"), "{run}");
        assert_eq!(server.requests.load(Ordering::SeqCst), before);
        assert!(
            fs_err::read_dir(t.cache())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("seen-")),
            "{who:?}: the offline build unpacked the cached tarball"
        );

        // Control: without the blob, the offline build cannot get the source.
        fs_err::remove_file(&blob).unwrap();
        t.build(who, &["--no-network"]).exit(1);
    }
}
