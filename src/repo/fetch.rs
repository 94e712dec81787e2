//! Getting the bytes behind a repository URL: `https://`, `http://`, `file://` or a plain
//! local path.
//!
//! Remote files go through [`ureq`] (rustls) with the system trust store (the distribution's
//! CA bundle, `SSL_CERT_FILE`, `SSL_CERT_DIR`, read by `rustls-native-certs`) plus any
//! `--ca-bundle` file; `http_proxy`/`https_proxy`/`all_proxy` by the URL's scheme as curl
//! reads them, bypassed for hosts in `no_proxy`; connect and read timeouts; and a bounded
//! retry with backoff for failures that can pass (refused or reset connections, timeouts,
//! 5xx, 429), never for a 404. Local files are read in place: nothing to download.
//! [`Fetcher::download_all`] runs downloads on a small pool of threads.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// How downloads behave.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Extra trusted certificates (PEM), added to the system's (`--ca-bundle`).
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Attempts after the first for a failure that can pass.
    pub retries: u32,
    /// First pause between attempts; doubled each time.
    pub backoff: Duration,
    /// Downloads at once.
    pub parallel: usize,
    /// Leave the system's trusted certificates out (reading them costs milliseconds): for a
    /// run that downloads nothing over TLS (offline, or local repositories only).
    pub without_system_roots: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            ca_bundle: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(250),
            parallel: 4,
            without_system_roots: false,
        }
    }
}

/// Where a repository or file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Read directly from this path.
    Local(PathBuf),
    /// Downloaded over HTTP(S).
    Remote(String),
}

/// `file:///x` and `/x` (or any string without a scheme) are local; `http(s)://` remote.
pub fn location(url: &str) -> Location {
    if let Some(path) = url.strip_prefix("file://") {
        return Location::Local(PathBuf::from(path));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Location::Remote(url.to_string());
    }
    Location::Local(PathBuf::from(url))
}

/// `<base>/<rel>` for a repository base (URL or path), without doubled slashes.
pub fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}

/// Why a download failed.
#[derive(Debug)]
pub struct FetchError {
    pub url: String,
    pub kind: FetchErrorKind,
    pub cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// The server answered that the file is not there (404, 410) or the local file is missing.
    NotFound,
    /// No answer: refused, unresolvable, timed out, TLS failure, 5xx after retries.
    Unreachable,
    /// The server's certificate is not trusted (or TLS failed otherwise): not retried.
    Tls,
    /// Anything else (a local write, a bad URL).
    Other,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot download {}: {}", self.url, self.cause)?;
        if self.kind == FetchErrorKind::Tls {
            write!(
                f,
                "\n  hint: a server with a private CA needs it trusted: `--ca-bundle FILE` \
                 (PEM) or `SSL_CERT_FILE`"
            )?;
        }
        if self.kind == FetchErrorKind::Unreachable {
            write!(
                f,
                "\n  hint: check the network or proxy (`https_proxy`, `no_proxy`); \
                 with `--no-network` melwrap uses what the apk cache already holds"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for FetchError {}

/// A download client; cheap to share between threads.
#[derive(Debug)]
pub struct Fetcher {
    opts: FetchOptions,
    direct: ureq::Agent,
    http_proxied: Option<ureq::Agent>,
    https_proxied: Option<ureq::Agent>,
    no_proxy: Vec<String>,
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

impl Fetcher {
    /// A client with the system trust store, the `--ca-bundle` file when given, and the proxy
    /// variables of the environment.
    pub fn new(opts: FetchOptions) -> Result<Fetcher, String> {
        let roots = match opts.without_system_roots && opts.ca_bundle.is_none() {
            true => RootCerts::new_with_certs(&[]),
            false => trust_roots(opts.ca_bundle.as_deref())?,
        };
        let agent = |proxy: Option<&str>| -> Result<ureq::Agent, String> {
            let proxy = match proxy {
                Some(p) => {
                    Some(ureq::Proxy::new(p).map_err(|e| format!("proxy `{}`: {e}", redact(p)))?)
                }
                None => None,
            };
            let config = ureq::Agent::config_builder()
                .tls_config(TlsConfig::builder().root_certs(roots.clone()).build())
                .proxy(proxy)
                .timeout_connect(Some(opts.connect_timeout))
                .timeout_recv_response(Some(opts.read_timeout))
                .timeout_recv_body(None)
                .timeout_per_read(Some(opts.read_timeout))
                .http_status_as_error(false)
                .user_agent(concat!("melwrap/", env!("CARGO_PKG_VERSION")))
                .build();
            Ok(config.into())
        };
        let http_proxy = env_any(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]);
        let https_proxy = env_any(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]);
        let no_proxy = env_any(&["no_proxy", "NO_PROXY"])
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Fetcher {
            direct: agent(None)?,
            http_proxied: http_proxy.as_deref().map(|p| agent(Some(p))).transpose()?,
            https_proxied: https_proxy.as_deref().map(|p| agent(Some(p))).transpose()?,
            no_proxy,
            opts,
        })
    }

    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    fn agent_for(&self, url: &str) -> &ureq::Agent {
        let proxied = if url.starts_with("https://") {
            &self.https_proxied
        } else {
            &self.http_proxied
        };
        match proxied {
            Some(a) if !bypasses_proxy(&self.no_proxy, host_of(url)) => a,
            _ => &self.direct,
        }
    }

    /// Writes the file at `url` into `out` (from its start), calling `progress` with each
    /// piece's length; returns the byte count. A local location is copied. Failures that
    /// can pass are retried with backoff; `out` is rewound and truncated before each attempt.
    pub fn download(
        &self,
        url: &str,
        out: &mut File,
        limit: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, FetchError> {
        let err = |kind, cause: String| FetchError {
            url: redact(url),
            kind,
            cause,
        };
        if let Location::Local(path) = location(url) {
            let mut src = File::open(&path).map_err(|e| {
                let kind = if e.kind() == io::ErrorKind::NotFound {
                    FetchErrorKind::NotFound
                } else {
                    FetchErrorKind::Other
                };
                err(kind, e.to_string())
            })?;
            return copy(&mut src, out, limit, progress)
                .map_err(|(e, _)| err(FetchErrorKind::Other, e));
        }
        let mut attempt = 0;
        loop {
            match self.attempt(url, out, limit, progress) {
                Ok(n) => return Ok(n),
                Err((kind, cause, transient)) => {
                    if !transient || attempt >= self.opts.retries {
                        let cause = if attempt > 0 {
                            format!("{cause} (after {} attempts)", attempt + 1)
                        } else {
                            cause
                        };
                        return Err(err(kind, cause));
                    }
                    std::thread::sleep(self.opts.backoff * 2u32.pow(attempt));
                    attempt += 1;
                }
            }
        }
    }

    /// The whole file at `url` (a key, a small file) in memory, at most `limit` bytes; local
    /// locations are read directly.
    pub fn bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let err = |e: io::Error| FetchError {
            url: redact(url),
            kind: FetchErrorKind::Other,
            cause: format!("cannot hold the download: {e}"),
        };
        let mut f = tempfile::tempfile().map_err(err)?;
        self.download(url, &mut f, limit, &|_| {})?;
        let mut out = Vec::new();
        io::Seek::rewind(&mut f).map_err(err)?;
        f.read_to_end(&mut out).map_err(err)?;
        Ok(out)
    }

    /// One try: `Err((kind, cause, worth retrying))`.
    fn attempt(
        &self,
        url: &str,
        out: &mut File,
        limit: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, (FetchErrorKind, String, bool)> {
        use FetchErrorKind::*;
        let local = |e: io::Error| (Other, format!("cannot write the download: {e}"), false);
        out.set_len(0).map_err(local)?;
        io::Seek::rewind(out).map_err(local)?;
        let resp = self
            .agent_for(url)
            .get(url)
            .call()
            .map_err(|e| (classify(&e), describe(&e), classify(&e) == Unreachable))?;
        let status = resp.status().as_u16();
        if status == 404 || status == 410 {
            return Err((NotFound, format!("the server answered {status}"), false));
        }
        if !(200..300).contains(&status) {
            let transient = status >= 500 || status == 429 || status == 408;
            let kind = if transient { Unreachable } else { Other };
            return Err((kind, format!("the server answered {status}"), transient));
        }
        let expected = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = resp.into_body();
        let mut reader = body.with_config().limit(u64::MAX).reader();
        let n = copy(&mut reader, out, limit, progress).map_err(|(e, transient)| {
            let kind = if transient { Unreachable } else { Other };
            (kind, e, transient)
        })?;
        if let Some(len) = expected.filter(|&len| len != n) {
            return Err((
                Unreachable,
                format!("the connection ended after {n} of {len} bytes"),
                true,
            ));
        }
        out.flush().map_err(local)?;
        Ok(n)
    }

    /// Runs `job` for each item on up to [`FetchOptions::parallel`] threads; results in the
    /// items' order.
    pub fn download_all<T: Sync, R: Send>(
        &self,
        items: &[T],
        job: impl Fn(&T) -> R + Sync,
    ) -> Vec<R> {
        let next = Mutex::new(0usize);
        let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
        let workers = self.opts.parallel.clamp(1, items.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = {
                            let mut n = next.lock().unwrap();
                            let i = *n;
                            *n += 1;
                            i
                        };
                        let Some(item) = items.get(i) else { break };
                        *results[i].lock().unwrap() = Some(job(item));
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|r| r.into_inner().unwrap().expect("every item ran"))
            .collect()
    }
}

/// Copies at most `limit` bytes; more is an error that is not worth retrying (`Err((cause,
/// retry))`): a server cannot fill the disk.
fn copy(
    src: &mut impl Read,
    out: &mut File,
    limit: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, (String, bool)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((format!("reading the response: {e}"), true)),
        };
        if total + n as u64 > limit {
            return Err((
                format!("the file is larger than the {limit} bytes expected"),
                false,
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| (format!("cannot write the download: {e}"), false))?;
        total += n as u64;
        progress(n as u64);
    }
}

/// Which failures can pass (and are retried) and which cannot.
fn classify(e: &ureq::Error) -> FetchErrorKind {
    use ureq::Error as E;
    match e {
        E::Tls(_) | E::Rustls(_) | E::Pem(_) => FetchErrorKind::Tls,
        // rustls reports a refused certificate as invalid data on the stream.
        E::Io(io) if io.kind() == io::ErrorKind::InvalidData => FetchErrorKind::Tls,
        E::BadUri(_) | E::InvalidProxyUrl | E::TooManyRedirects | E::RedirectFailed => {
            FetchErrorKind::Other
        }
        _ => FetchErrorKind::Unreachable,
    }
}

/// A short cause a person can act on.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".into(),
            io::ErrorKind::TimedOut => "timed out".into(),
            _ if io.to_string().contains("lookup address") => format!("host not found ({io})"),
            _ => io.to_string(),
        },
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

/// `url` without the password of its user information (`https://user:***@host/…`), for
/// messages and files: a repository or proxy URL can carry credentials.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[end..])
        }
        None => url.to_string(),
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// curl's `no_proxy`: `*`, an exact host, or a domain (with or without a leading dot) that
/// the host ends in.
fn bypasses_proxy(no_proxy: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.iter().any(|entry| {
        let entry = entry.split(':').next().unwrap_or(entry);
        let domain = entry.trim_start_matches('.');
        entry == "*" || host == domain || host.ends_with(&format!(".{domain}"))
    })
}

/// The system's trusted certificates plus those of `extra` (a PEM file).
fn trust_roots(extra: Option<&Path>) -> Result<RootCerts, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(path) = extra {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?;
        let before = certs.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c.to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("the CA bundle {}: {e}", path.display())),
            }
        }
        if certs.len() == before {
            return Err(format!(
                "the CA bundle {} holds no PEM certificate",
                path.display()
            ));
        }
    }
    Ok(RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_joins() {
        assert_eq!(location("file:///r"), Location::Local("/r".into()));
        assert_eq!(location("./r"), Location::Local("./r".into()));
        assert_eq!(
            location("https://h/os"),
            Location::Remote("https://h/os".into())
        );
        assert_eq!(join("https://h/os/", "/x86_64/A"), "https://h/os/x86_64/A");
    }

    #[test]
    fn no_proxy_matches_like_curl() {
        let np: Vec<String> = vec!["example.org".into(), ".corp".into(), "10.0.0.1".into()];
        assert!(bypasses_proxy(&np, host_of("http://example.org/x")));
        assert!(bypasses_proxy(&np, host_of("http://a.example.org:8080/x")));
        assert!(bypasses_proxy(&np, host_of("https://u@git.corp/x")));
        assert!(bypasses_proxy(&np, host_of("http://10.0.0.1/x")));
        assert!(!bypasses_proxy(&np, host_of("http://badexample.org/x")));
        assert!(bypasses_proxy(&["*".into()], "anything"));
        assert_eq!(host_of("http://[::1]:80/x"), "::1");
    }

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(redact("https://u:secret@h/os"), "https://u:***@h/os");
        assert_eq!(redact("https://h/a@b"), "https://h/a@b");
        assert_eq!(redact("/local/dir"), "/local/dir");
    }
}
