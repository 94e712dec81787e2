//! Resource limits for steps: `--pids N` and `--memory SIZE`, set with `setrlimit` in the
//! child before bwrap starts, so bwrap and every process of the step inherit them and none
//! can raise them (raising a hard limit needs `CAP_SYS_RESOURCE` in the host's namespace).
//!
//! - `--pids` is `RLIMIT_NPROC`, which the kernel counts per host uid. As root, steps run as
//!   the build ids ([`super::BuildIds`]), which run nothing else, so the limit bounds the
//!   build's own processes and threads (all root builds running at once share it). Rootless,
//!   the count includes every process of the invoking user (a desktop session has thousands
//!   of threads), so there is no default: a limit only applies when asked for.
//! - `--memory` is `RLIMIT_DATA` (heap and private writable mappings) of each process, not
//!   of the whole build; a process over it gets `ENOMEM`. There is no default: tools that
//!   reserve large writable mappings up front (AddressSanitizer's shadow memory, used by the
//!   corpus's `test/compiler/asan` pipeline) would fail under any sensible value.
//!   `package.resources.memory` is melange's size for its VM runner and is not turned into a
//!   per-process limit for the same reason.
//!
//! cgroup v2 would bound the build as a whole; a rootless melwrap can only use it where a
//! writable delegated subtree exists, which is not implemented yet (`melwrap doctor` says
//! what is enforced here).

use std::fmt;

/// The process limit for root builds when `--pids` is not given: far above what an honest
/// parallel build uses (a `make -j64` of C, or Go and Rust with their worker threads, stays
/// in the low thousands), low enough that a fork bomb stops long before the host's
/// `pid_max` (32768 by default on older kernels).
pub const DEFAULT_ROOT_PIDS: u64 = 16384;

/// The smallest `--memory` accepted: below it even a shell fails to start.
const MIN_MEMORY: u64 = 16 << 20;

/// Limits applied to every process of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// `RLIMIT_NPROC`: processes and threads of the step's host uid.
    pub pids: Option<u64>,
    /// `RLIMIT_DATA` in bytes, per process.
    pub memory: Option<u64>,
}

impl Resources {
    /// melwrap's defaults: [`DEFAULT_ROOT_PIDS`] for root builds, nothing rootless.
    pub fn defaults(root: bool) -> Resources {
        Resources {
            pids: root.then_some(DEFAULT_ROOT_PIDS),
            memory: None,
        }
    }

    /// The defaults with `--pids` and `--memory` (already parsed) on top.
    pub fn with(self, pids: Option<u64>, memory: Option<u64>) -> Resources {
        Resources {
            pids: pids.or(self.pids),
            memory: memory.or(self.memory),
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pids = self.pids.map_or("no process limit".to_string(), |n| {
            format!("at most {n} processes")
        });
        let memory = self.memory.map_or("no memory limit".to_string(), |m| {
            format!("{} of data per process", format_size(m))
        });
        write!(f, "{pids}, {memory}")
    }
}

/// `--pids N`: a positive count.
pub fn parse_pids(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(format!(
            "`{text}` is not a process count (a whole number above 0, such as 4096)"
        )),
        Ok(n) => Ok(n),
    }
}

/// `--memory SIZE`: bytes, or a number with `K`, `M`, `G`, `T` (powers of 1024; `Ki`, `Mi`,
/// `Gi`, `Ti` as in melange's `resources.memory` mean the same).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a memory size (write it like 512M, 4G or 4Gi; at least 16M)");
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let number: u64 = t[..digits].parse().map_err(|_| bad())?;
    let shift = match t[digits..].trim_end_matches(['i', 'B']) {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
    if bytes < MIN_MEMORY {
        return Err(bad());
    }
    Ok(bytes)
}

/// `4G`, `512M`, or bytes.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// In the child before exec: set the limits (soft and hard). Async-signal-safe.
pub(crate) fn apply(res: &Resources) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let lim = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        // SAFETY: setrlimit reads one valid rlimit.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    if let Some(n) = res.pids {
        set(libc::RLIMIT_NPROC, n)?;
    }
    if let Some(m) = res.memory {
        set(libc::RLIMIT_DATA, m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts() {
        assert_eq!(parse_memory("512M").unwrap(), 512 << 20);
        assert_eq!(parse_memory("4Gi").unwrap(), 4 << 30);
        assert_eq!(parse_memory("4G").unwrap(), 4 << 30);
        assert_eq!(parse_memory("1073741824").unwrap(), 1 << 30);
        assert!(parse_memory("1M").is_err());
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("4X").is_err());
        assert_eq!(parse_pids("64").unwrap(), 64);
        assert!(parse_pids("0").is_err());
        assert!(parse_pids("-1").is_err());
        assert_eq!(format_size(4 << 30), "4G");
        assert_eq!(
            Resources::defaults(true)
                .with(None, Some(1 << 30))
                .to_string(),
            "at most 16384 processes, 1G of data per process"
        );
        assert_eq!(Resources::defaults(false).pids, None);
    }
}
