//! Which package owns each installed file, and apk-tools' rule for a later package that
//! carries a path an earlier one installed (`apk_db_install_archive_entry`): allowed when
//! both come from the same origin, or when the later one `replaces` the earlier with at least
//! the earlier's priority (it takes the file over); refused otherwise ("trying to overwrite …
//! owned by …"). Where apk-tools would keep the earlier file (the earlier package replaces the
//! later one with a higher priority) melwrap refuses too: the unpacker cannot skip an entry.
//! The check runs before the package is unpacked, so nothing of it is written.

use std::collections::HashMap;

use color_eyre::eyre;

use super::installed_db::Listing;
use crate::apk::PkgInfo;

/// What the rule needs about one package.
#[derive(Debug, Clone)]
pub(super) struct Facts {
    pub name: String,
    pub version: String,
    pub origin: String,
    /// Names in `replaces` (constraints dropped).
    pub replaces: Vec<String>,
    pub replaces_priority: i64,
}

impl Facts {
    pub fn of(info: &PkgInfo) -> Facts {
        Facts {
            name: info.get("pkgname").to_string(),
            version: info.get("pkgver").to_string(),
            origin: info.get("origin").to_string(),
            replaces: info
                .all("replaces")
                .iter()
                .flat_map(|v| v.split_whitespace().map(dep_name).collect::<Vec<_>>())
                .collect(),
            replaces_priority: info.get("replaces_priority").parse().unwrap_or(0),
        }
    }

    fn replaces(&self, other: &Facts) -> bool {
        self.replaces.contains(&other.name)
    }

    /// This package's `replaces_priority` when it replaces `other`, else -1.
    fn priority_over(&self, other: &Facts) -> i64 {
        if self.replaces(other) {
            self.replaces_priority
        } else {
            -1
        }
    }
}

/// `name` of `name>=1.2`, `name~1`, `name@tag`.
fn dep_name(atom: &str) -> String {
    atom.split(['<', '>', '=', '~', '@'])
        .next()
        .unwrap_or(atom)
        .trim_start_matches('!')
        .to_string()
}

/// File paths (not directories) and the index of the package that installed them.
#[derive(Debug, Default)]
pub(super) struct Owners {
    by_path: HashMap<String, usize>,
}

impl Owners {
    /// Claims every file of `listing` for package `idx`; returns `(previous owner, dir, name)`
    /// of each file taken over, or the error apk-tools would give.
    pub fn claim(
        &mut self,
        idx: usize,
        facts: &[Facts],
        listing: &Listing,
    ) -> eyre::Result<Vec<(usize, String, String)>> {
        let me = &facts[idx];
        let mut taken = Vec::new();
        for (dir, _, files) in listing {
            for (name, _) in files {
                let path = entry_path(dir, name);
                let Some(&prev) = self.by_path.get(&path) else {
                    continue;
                };
                if prev == idx {
                    continue;
                }
                let them = &facts[prev];
                let same_origin = !me.origin.is_empty() && me.origin == them.origin;
                let their_prio = them.priority_over(me);
                let my_prio = me.priority_over(them);
                if !same_origin && (their_prio > my_prio || my_prio < 0) {
                    eyre::bail!(
                        "package {}-{}: entry `{path}` would overwrite a file of package {}-{} \
                         (apk-tools refuses this too unless one `replaces` the other)",
                        me.name,
                        me.version,
                        them.name,
                        them.version
                    );
                }
                taken.push((prev, dir.clone(), name.clone()));
            }
        }
        for (dir, _, files) in listing {
            for (name, _) in files {
                self.by_path.insert(entry_path(dir, name), idx);
            }
        }
        Ok(taken)
    }
}

/// The path of entry `name` of listing directory `dir` (`""` is the root).
fn entry_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Drops `dir/name` from a listing (its file now belongs to a later package).
pub(super) fn disown(listing: &mut Listing, dir: &str, name: &str) {
    for (d, _, files) in listing.iter_mut() {
        if d == dir {
            files.retain(|(n, _)| n != name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_names_drop_constraints() {
        assert_eq!(dep_name("busybox<1.36"), "busybox");
        assert_eq!(dep_name("coreutils"), "coreutils");
        assert_eq!(dep_name("a@edge"), "a");
    }
}
