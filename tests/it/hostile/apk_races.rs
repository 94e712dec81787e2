//! The packager against a destdir that changes under it: a host thread swaps a directory of
//! the destdir with a symlink to a host directory (`renameat2(RENAME_EXCHANGE)`, in a loop)
//! while `write_package` runs, many times. Each run either writes a package or fails with an
//! error; no package ever holds the host directory's contents.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::apk::support::*;
use melwrap::apk;

const HOST_MARKER: &str = "HOST-ONLY-CONTENT-a9f3";

fn exchange(a: &Path, b: &Path) -> bool {
    let a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: NUL-terminated paths; renameat2 has no other preconditions.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

#[test]
fn a_directory_swapped_with_a_link_during_packaging_never_leaks_host_files() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    let dest = t.path().join("melange-out/pkg");
    // The host directory mirrors the package's names, so a followed link would find files.
    for root in [&host, &dest.join("usr/lib")] {
        fs_err::create_dir_all(root.join("sub")).unwrap();
    }
    for name in ["a", "b", "sub/c"] {
        fs_err::write(host.join(name), HOST_MARKER).unwrap();
        fs_err::write(dest.join("usr/lib").join(name), "package file").unwrap();
    }
    // `usr/lib` and `usr/lib-link` (a symlink to the host dir) trade places in a loop.
    std::os::unix::fs::symlink(&host, dest.join("usr/lib-link")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        let (a, b) = (dest.join("usr/lib"), dest.join("usr/lib-link"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                swaps += u64::from(exchange(&a, &b));
            }
            swaps
        })
    };
    let (mut written, mut refused) = (0, 0);
    for i in 0..300 {
        let out = t.path().join(format!("out{}", i % 2));
        match apk::write_package(&dest, &meta(), &out, None) {
            Ok(pkg) => {
                written += 1;
                let raw = fs_err::read(&pkg.path).unwrap();
                let mut text = Vec::new();
                flate2::read::MultiGzDecoder::new(&raw[..])
                    .read_to_end(&mut text)
                    .unwrap();
                assert!(
                    !text
                        .windows(HOST_MARKER.len())
                        .any(|w| w == HOST_MARKER.as_bytes()),
                    "run {i}: the package holds a host file"
                );
            }
            Err(e) => {
                refused += 1;
                let msg = format!("{e:#}");
                // The error says what changed: a link met where a directory was, a directory
                // that vanished (swapped away), or an entry replaced after the walk.
                assert!(
                    [
                        "symbolic link",
                        "No such file",
                        "was replaced",
                        "Not a directory"
                    ]
                    .iter()
                    .any(|s| msg.contains(s)),
                    "run {i}: {msg}"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    eprintln!("{written} written, {refused} refused, {swaps} swaps");
    assert!(swaps > 0, "the racer swapped");
}
