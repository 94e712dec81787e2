//! A tiny loopback HTTP file server for the integration tests (no network beyond 127.0.0.1).
//!
//! It serves fixed files by path (`GET /name`, or `GET http://host/name` when used as an HTTP
//! proxy), one thread per connection, and counts connections and requests per path. Bodies go
//! out in 64 KiB pieces with a short pause between them, so that concurrent downloads really
//! overlap. [`HttpServer::stop`] (or dropping it) closes the listener: later connections are
//! refused.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback HTTP server serving fixed files; stops when dropped.
pub struct HttpServer {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serve `files`, keyed by path without the leading `/` (`a.tar.gz`, `dir/b`).
    pub fn start(files: BTreeMap<String, Vec<u8>>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let hits = Arc::new(Mutex::new(BTreeMap::new()));
        let files = Arc::new(files);
        let (s, c, h) = (stop.clone(), connections.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (files, hits) = (files.clone(), h.clone());
                std::thread::spawn(move || serve(conn, &files, &hits));
            }
        });
        HttpServer {
            port,
            connections,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// Serve one file at `path` (without the leading `/`).
    pub fn one(path: &str, body: Vec<u8>) -> HttpServer {
        HttpServer::start(BTreeMap::from([(path.to_string(), body)]))
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// How many connections were accepted so far.
    pub fn requests(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests asked for `path` (without the leading `/`).
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Stop listening: later connections are refused.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    mut conn: TcpStream,
    files: &BTreeMap<String, Vec<u8>>,
    hits: &Mutex<BTreeMap<String, usize>>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    // A request through a proxy names the whole URL (`GET http://host/path`): serve the path.
    let target = text.split_whitespace().nth(1).unwrap_or("/");
    let target = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = target.trim_start_matches('/').to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let Some(body) = files.get(&path) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    for piece in body.chunks(64 << 10) {
        if conn.write_all(piece).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
