//! A config's top-level `capabilities: {add, drop}` as bwrap's `--cap-add` / `--cap-drop`.
//!
//! melange adds Docker's 14 default capabilities to every step and then the config's; melwrap
//! gives none unless asked (see the docs' differences), so `add` is the whole set a step holds
//! inside its user namespace and `drop` only removes from it. bwrap gives the added set to any
//! uid inside (ambient for a non-root one) and the kernel limits it to what the user namespace
//! owns. Names are bwrap's (libcap's): `CAP_NET_ADMIN` in any case, or `ALL`.

/// Every capability name Linux defines, by number (`include/uapi/linux/capability.h`).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities a config asks for, as bwrap names them (upper case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapChanges {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

impl CapChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.drop.is_empty()
    }

    /// From the config's lists; the first bad name is the error (see [`normalize`]).
    pub fn from_config(add: &[String], drop: &[String]) -> Result<CapChanges, String> {
        let norm = |l: &[String]| {
            l.iter()
                .map(|c| normalize(c))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(CapChanges {
            add: norm(add)?,
            drop: norm(drop)?,
        })
    }
}

/// `CAP_NET_ADMIN`, `cap_net_admin` or `ALL` as bwrap's spelling; anything else is an error
/// that says what to write.
pub fn normalize(name: &str) -> Result<String, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" || NAMES.contains(&upper.as_str()) {
        return Ok(upper);
    }
    let prefixed = format!("CAP_{upper}");
    if NAMES.contains(&prefixed.as_str()) {
        return Err(format!(
            "capability `{name}` needs the CAP_ prefix: write `{prefixed}`"
        ));
    }
    Err(format!(
        "`{name}` is not a Linux capability (write a name such as CAP_NET_ADMIN, or ALL)"
    ))
}

/// The number of a capability name ([`NAMES`] spelling).
pub fn number(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// The capabilities of `changes.add` this kernel does not know (numbers above `last_cap`,
/// `/proc/sys/kernel/cap_last_cap`): bwrap cannot give them.
pub fn unknown_to_kernel(changes: &CapChanges, last_cap: usize) -> Vec<String> {
    changes
        .add
        .iter()
        .filter(|c| number(c).is_some_and(|n| n > last_cap))
        .cloned()
        .collect()
}

/// `/proc/sys/kernel/cap_last_cap`, when readable.
pub fn kernel_last_cap() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_to_bwrap_spelling() {
        assert_eq!(normalize("CAP_NET_ADMIN").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(normalize("cap_sys_chroot").unwrap(), "CAP_SYS_CHROOT");
        assert_eq!(normalize("all").unwrap(), "ALL");
        let e = normalize("NET_ADMIN").unwrap_err();
        assert!(e.contains("write `CAP_NET_ADMIN`"), "{e}");
        let e = normalize("CAP_BOGUS").unwrap_err();
        assert!(e.contains("not a Linux capability"), "{e}");
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
    }

    #[test]
    fn an_old_kernel_refuses_new_capabilities() {
        let c = CapChanges::from_config(&["CAP_BPF".into(), "CAP_NET_RAW".into()], &[]).unwrap();
        assert_eq!(unknown_to_kernel(&c, 37), vec!["CAP_BPF".to_string()]);
        assert!(unknown_to_kernel(&c, 40).is_empty());
    }
}
