//! The package database the solver reads: every index entry once, names with their providers,
//! reverse dependency and install_if links, and repository tags (apk-tools `database.c`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::apk::index::IndexEntry;

use super::dep::Dep;
use super::repository::LoadedRepo;

pub type NameId = usize;
pub type PkgId = usize;

/// A dependency with its name interned.
#[derive(Debug, Clone)]
pub struct DepRef {
    pub name: NameId,
    pub dep: Dep,
}

impl DepRef {
    /// apk `apk_dep_is_provided` against a chosen provider (`None`: nothing chosen).
    pub fn is_provided(&self, db: &Db, p: Option<Provider>) -> bool {
        match p {
            None => self.dep.matches_nothing(),
            Some(p) => self.dep.matches(db.provider_version(p)),
        }
    }
}

/// A package offering a name: as itself (`own`) or through its `p:` entry `provides[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    pub pkg: PkgId,
    /// `None`: the package's own name and version; `Some(i)`: its `provides[i]`.
    pub via: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Pkg {
    pub name: NameId,
    pub entry: IndexEntry,
    pub depends: Vec<DepRef>,
    /// (name, version) of each `p:`; `None` for a provide without a version.
    pub provides: Vec<(NameId, Option<String>)>,
    pub install_if: Vec<DepRef>,
    /// Bit `i` set when repository `i` carries this exact package (same checksum).
    pub repos: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Name {
    pub name: String,
    pub providers: Vec<Provider>,
    /// Names of packages (and their provides) that depend on this name.
    pub rdepends: Vec<NameId>,
    pub rinstall_if: Vec<NameId>,
}

/// FNV-1a: names are short and not attacker-chosen in a way that matters here (a hostile
/// index can only slow its own resolution), and SipHash was a visible share of the time.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FastHash = BuildHasherDefault<Fnv>;

/// The repositories' packages, interned.
#[derive(Debug, Clone, Default)]
pub struct Db {
    pub names: Vec<Name>,
    pub pkgs: Vec<Pkg>,
    pub by_name: HashMap<String, NameId, FastHash>,
    /// Repository locations, in order (bit `i` of `Pkg::repos`).
    pub repos: Vec<String>,
    /// Tag 0 is the default (untagged repositories); then `@tag`s in order of appearance.
    pub tags: Vec<(String, u64)>,
}

impl Db {
    /// Intern every package of `repos`, in repository then index order.
    pub fn new(repos: Vec<LoadedRepo>) -> Db {
        let mut db = Db {
            tags: vec![(String::new(), 0)],
            ..Db::default()
        };
        let total: usize = repos.iter().map(|r| r.entries.len()).sum();
        db.pkgs.reserve(total);
        db.names.reserve(total * 2);
        db.by_name.reserve(total * 2);
        // `C:` is a SHA-1: the same 20 bytes in two repositories is one package.
        let mut by_sum: HashMap<[u8; 20], PkgId, FastHash> = HashMap::default();
        by_sum.reserve(total);
        for (i, r) in repos.into_iter().enumerate().take(63) {
            let bit = 1u64 << i;
            db.repos.push(r.repository.location.clone());
            let tag = db.tag_id(r.repository.tag.as_deref().unwrap_or(""));
            db.tags[tag].1 |= bit;
            for e in r.entries {
                let sum = <[u8; 20]>::try_from(e.checksum.as_slice()).ok();
                if let Some(&p) = sum.as_ref().and_then(|s| by_sum.get(s)) {
                    db.pkgs[p].repos |= bit;
                    continue;
                }
                let id = db.add_pkg(e, bit);
                if let Some(s) = sum {
                    by_sum.insert(s, id);
                }
            }
        }
        db.link_reverse();
        db
    }

    /// The id of `tag` (without `@`; "" is the default), created when new.
    pub fn tag_id(&mut self, tag: &str) -> usize {
        match self.tags.iter().position(|(t, _)| t == tag) {
            Some(i) => i,
            None => {
                self.tags.push((tag.to_string(), 0));
                self.tags.len() - 1
            }
        }
    }

    /// The repositories allowed by a pinning mask (bit per tag).
    pub fn mask_repos(&self, pinning: u64) -> u64 {
        self.tags
            .iter()
            .enumerate()
            .filter(|(i, _)| pinning & (1 << i) != 0)
            .fold(0, |acc, (_, (_, r))| acc | r)
    }

    pub fn name_id(&mut self, name: &str) -> NameId {
        if let Some(&n) = self.by_name.get(name) {
            return n;
        }
        self.names.push(Name {
            name: name.to_string(),
            ..Name::default()
        });
        self.by_name.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn dep_ref(&mut self, dep: Dep) -> DepRef {
        DepRef {
            name: self.name_id(&dep.name),
            dep,
        }
    }

    fn add_pkg(&mut self, e: IndexEntry, bit: u64) -> PkgId {
        let id = self.pkgs.len();
        let name = self.name_id(&e.name);
        // apk stops at an atom it cannot parse; keeping the valid ones is the same for every
        // index apk itself writes.
        let deps = |db: &mut Db, list: &[String]| -> Vec<DepRef> {
            list.iter()
                .filter_map(|s| Dep::parse(s).ok())
                .map(|d| db.dep_ref(d))
                .collect()
        };
        // Names are created in the order apk meets them in an index written by abuild
        // (P, D, p, i): the order decides ties in apk's name hash, see `link_reverse`.
        let depends = deps(self, &e.depends);
        let provides = e
            .provides
            .iter()
            .filter_map(|s| Dep::parse(s).ok())
            .map(|d| (self.name_id(&d.name), d.version))
            .collect::<Vec<_>>();
        let install_if = deps(self, &e.install_if);
        self.names[name]
            .providers
            .push(Provider { pkg: id, via: None });
        for (i, (n, _)) in provides.iter().enumerate() {
            self.names[*n].providers.push(Provider {
                pkg: id,
                via: Some(i),
            });
        }
        self.pkgs.push(Pkg {
            name,
            entry: e,
            depends,
            provides,
            install_if,
            repos: bit,
        });
        id
    }

    /// apk's `apk_db_name_rdepends`: for every name, in the iteration order of apk's name hash
    /// table, each provider's dependencies and install_if names get this name once. The order
    /// of these lists decides the order in which the solver revisits names, so it is apk's:
    /// murmur3 (seed 5381) modulo 20000 buckets, newest name first within a bucket.
    fn link_reverse(&mut self) {
        let mut order: Vec<(u32, std::cmp::Reverse<NameId>)> = (0..self.names.len())
            .map(|n| {
                let bucket = murmur3_32(self.names[n].name.as_bytes(), 5381) % 20000;
                (bucket, std::cmp::Reverse(n))
            })
            .collect();
        order.sort_unstable();
        let mut dep_stamp = vec![usize::MAX; self.names.len()];
        let mut iif_stamp = vec![usize::MAX; self.names.len()];
        for (_, std::cmp::Reverse(n)) in order {
            for i in 0..self.names[n].providers.len() {
                let pkg = self.names[n].providers[i].pkg;
                for j in 0..self.pkgs[pkg].depends.len() {
                    let d = self.pkgs[pkg].depends[j].name;
                    if dep_stamp[d] != n {
                        dep_stamp[d] = n;
                        self.names[d].rdepends.push(n);
                    }
                }
                for j in 0..self.pkgs[pkg].install_if.len() {
                    let d = self.pkgs[pkg].install_if[j].name;
                    if iif_stamp[d] != n {
                        iif_stamp[d] = n;
                        self.names[d].rinstall_if.push(n);
                    }
                }
            }
        }
    }

    /// The version a provider offers (`None`: provided without a version).
    pub fn provider_version(&self, p: Provider) -> Option<&str> {
        let pkg = &self.pkgs[p.pkg];
        match p.via {
            None => Some(pkg.entry.version.as_str()),
            Some(i) => pkg.provides[i].1.as_deref(),
        }
    }

    /// `name-version` of a package.
    pub fn label(&self, p: PkgId) -> String {
        let e = &self.pkgs[p].entry;
        format!("{}-{}", e.name, e.version)
    }

    /// The first repository (lowest bit) carrying the package.
    pub fn first_repo(&self, p: PkgId) -> usize {
        self.pkgs[p].repos.trailing_zeros() as usize
    }
}

/// apk-tools' `murmur3_32` (`src/blob.c`), for its name hash order.
fn murmur3_32(key: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k ^= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= key.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        // Reference values of MurmurHash3_x86_32.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"test", 0), 0xba6b_d213);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }
}
