//! The order packages are installed in, as apk-tools 2.14 commits a changeset
//! (`generate_changeset` in `solver.c`): a depth-first walk from the requests (apk keeps its
//! world sorted by name), each package after the packages it depends on (in the order its
//! `depends` lists them), and an `install_if` package right after the last package that
//! completes its condition. The order matters: it decides which file wins when two packages
//! carry the same path and who owns it in `lib/apk/db/installed`.

use std::collections::HashMap;

use super::dep::Dep;
use super::resolve::ResolvedPackage;

/// Indexes into `set` (the resolver's answer) in install order; every package once.
pub fn install_order(set: &[ResolvedPackage], requests: &[String]) -> Vec<usize> {
    // A name, or anything provided, to the packages of the set that carry it (by name order,
    // which is the set's order).
    let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in set.iter().enumerate() {
        providers.entry(p.name.as_str()).or_default().push(i);
        for prov in &p.entry.provides {
            providers.entry(dep_name(prov)).or_default().push(i);
        }
    }
    let mut world: Vec<String> = requests
        .iter()
        .filter_map(|r| Dep::parse(r).ok())
        .filter(|d| !d.conflict)
        .map(|d| d.name)
        .collect();
    world.sort_unstable();
    world.dedup();
    let mut walk = Walk {
        set,
        providers: &providers,
        done: vec![false; set.len()],
        placed: vec![false; set.len()],
        order: Vec::with_capacity(set.len()),
    };
    for name in &world {
        walk.name(name);
    }
    // Whatever the walk did not reach (the resolver pulled it in some other way), by name.
    for i in 0..set.len() {
        walk.package(i);
    }
    walk.order
}

struct Walk<'a> {
    set: &'a [ResolvedPackage],
    providers: &'a HashMap<&'a str, Vec<usize>>,
    /// Visited (possibly still waiting for its dependencies).
    done: Vec<bool>,
    /// In `order`.
    placed: Vec<bool>,
    order: Vec<usize>,
}

impl Walk<'_> {
    fn name(&mut self, name: &str) {
        if let Some(&i) = self.providers.get(name).and_then(|v| v.first()) {
            self.package(i);
        }
    }

    fn package(&mut self, i: usize) {
        if self.done[i] {
            return;
        }
        self.done[i] = true;
        let p = &self.set[i];
        for d in &p.entry.depends {
            if d.starts_with('!') {
                continue;
            }
            self.name(dep_name(d));
        }
        self.order.push(i);
        self.placed[i] = true;
        // install_if packages this one may complete: those whose every condition is now met.
        for j in 0..self.set.len() {
            let q = &self.set[j];
            if self.done[j] || q.entry.install_if.is_empty() {
                continue;
            }
            let mentions =
                |n: &str| n == p.name || p.entry.provides.iter().any(|prov| dep_name(prov) == n);
            let conds: Vec<&str> = q
                .entry
                .install_if
                .iter()
                .filter(|c| !c.starts_with('!'))
                .map(|c| dep_name(c))
                .collect();
            if conds.iter().any(|n| mentions(n)) && conds.iter().all(|n| self.installed(n)) {
                self.package(j);
            }
        }
    }

    fn installed(&self, name: &str) -> bool {
        self.providers
            .get(name)
            .is_some_and(|v| v.iter().any(|&i| self.placed[i]))
    }
}

/// The name of an atom (`so:libc.so.6=6`, `foo>=1`, `bar@edge`).
fn dep_name(atom: &str) -> &str {
    let atom = atom.strip_prefix('!').unwrap_or(atom);
    let end = atom.find(['<', '>', '=', '~', '@']).unwrap_or(atom.len());
    &atom[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(
        name: &str,
        depends: &[&str],
        provides: &[&str],
        install_if: &[&str],
    ) -> ResolvedPackage {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        ResolvedPackage {
            name: name.into(),
            version: "1-r0".into(),
            arch: "x86_64".into(),
            repository: "/r".into(),
            size: 1,
            checksum: String::new(),
            entry: crate::apk::index::IndexEntry {
                name: name.into(),
                depends: v(depends),
                provides: v(provides),
                install_if: v(install_if),
                ..Default::default()
            },
        }
    }

    fn names(set: &[ResolvedPackage], req: &[&str]) -> Vec<String> {
        let req: Vec<String> = req.iter().map(|s| s.to_string()).collect();
        install_order(set, &req)
            .into_iter()
            .map(|i| set[i].name.clone())
            .collect()
    }

    #[test]
    fn dependencies_come_first_through_provides() {
        // Sorted by name, as the resolver returns it.
        let set = [
            pkg("a-app", &["so:libz.so.1", "baselayout"], &[], &[]),
            pkg("a-app-doc", &[], &[], &["a-app", "docs"]),
            pkg("baselayout", &[], &[], &[]),
            pkg("docs", &[], &[], &[]),
            pkg("zlib", &["baselayout>=1"], &["so:libz.so.1=1.3"], &[]),
        ];
        assert_eq!(
            names(&set, &["docs", "a-app"]),
            ["baselayout", "zlib", "a-app", "docs", "a-app-doc"]
        );
    }

    #[test]
    fn unreached_packages_follow_by_name_and_cycles_end() {
        let set = [
            pkg("a", &["b"], &[], &[]),
            pkg("b", &["a"], &[], &[]),
            pkg("c", &[], &[], &[]),
        ];
        assert_eq!(names(&set, &["b"]), ["a", "b", "c"]);
        assert_eq!(dep_name("so:libc.so.6=6"), "so:libc.so.6");
        assert_eq!(dep_name("!foo>=1"), "foo");
        assert_eq!(dep_name("bar@edge"), "bar");
    }
}
