//! The solver: a port of apk-tools 2.14's `solver.c` for an empty root (no installed
//! packages, `apk add` without `--upgrade`/`--latest`), so that the same indexes and requests
//! give the same package set. Names and steps follow apk's so the two can be read side by side:
//! names are discovered, constraints applied, names reconsidered (common dependencies merged
//! down, unsatisfiable providers disqualified) until one name can be decided; its best provider
//! (`compare_providers`) is chosen; repeat. The changeset walk then collects what the requests
//! reach, install_if packages included.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::db::{Db, DepRef, NameId, PkgId, Provider};
use super::version;

#[derive(Debug, Clone, Default)]
struct NameSs {
    seen: bool,
    locked: bool,
    chosen: Option<Provider>,
    requirers: u32,
    merge_depends: u32,
    merge_provides: u32,
    has_virtual_provides: bool,
    reevaluate_deps: bool,
    reevaluate_iif: bool,
    has_options: bool,
    has_auto_selectable: bool,
    has_iif: bool,
    no_iif: bool,
    reverse_deps_done: bool,
    order_id: u32,
    in_changeset: bool,
    in_dirty: bool,
    dirty_gen: u32,
    in_unresolved: bool,
    solver_flags_set: bool,
}

#[derive(Debug, Clone, Default)]
struct PkgSs {
    seen: bool,
    pinning_allowed: u64,
    pinning_preferred: u64,
    pkg_selectable: bool,
    iif_triggered: bool,
    iif_failed: bool,
    tag_preferred: bool,
    tag_ok: bool,
    conflicts: i32,
    dependencies_merged: bool,
    dependencies_used: bool,
    error: bool,
    in_changeset: bool,
}

const DEFAULT_PINNING: u64 = 1;

/// What the solver decided.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Packages to install, in the order apk's changeset lists them.
    pub install: Vec<PkgId>,
    /// Packages marked in error (empty when the set is consistent).
    pub errors: Vec<PkgId>,
    /// Number of errors apk would count (broken packages and names without a provider).
    pub error_count: u32,
    /// The chosen provider of each name (`None` when unresolved or resolved to nothing).
    pub chosen: Vec<Option<Provider>>,
}

pub struct Solver<'a> {
    db: &'a Db,
    ns: Vec<NameSs>,
    ps: Vec<PkgSs>,
    dirty: VecDeque<(NameId, u32)>,
    /// Head first (apk's `list_add` puts new names at the head).
    unresolved: Vec<NameId>,
    errors: u32,
    order_id: u32,
    default_repos: u64,
    pinning_inherit: u64,
    install: Vec<PkgId>,
}

impl<'a> Solver<'a> {
    /// Solve `world` (each dependency with its repository tag id).
    pub fn solve(db: &'a Db, world: &[(DepRef, usize)]) -> Outcome {
        let mut world: Vec<(DepRef, usize)> = world.to_vec();
        world.sort_by(|a, b| {
            let (x, y) = (&db.names[a.0.name].name, &db.names[b.0.name].name);
            x.to_lowercase().cmp(&y.to_lowercase()).then(x.cmp(y))
        });
        let mut s = Solver {
            db,
            ns: vec![NameSs::default(); db.names.len()],
            ps: vec![PkgSs::default(); db.pkgs.len()],
            dirty: VecDeque::new(),
            unresolved: Vec::new(),
            errors: 0,
            order_id: 0,
            default_repos: db.mask_repos(DEFAULT_PINNING),
            pinning_inherit: 0,
            install: Vec::new(),
        };
        for (d, _) in &world {
            s.ns[d.name].solver_flags_set = true;
        }
        for (d, _) in &world {
            s.discover_name(d.name);
        }
        for (d, tag) in &world {
            s.pinning_inherit = 1 << tag;
            s.apply_constraint(None, d);
        }
        s.pinning_inherit = 0;
        loop {
            while let Some((n, g)) = s.dirty.pop_front() {
                if !s.ns[n].in_dirty || s.ns[n].dirty_gen != g {
                    continue;
                }
                s.ns[n].in_dirty = false;
                s.reconsider_name(n);
            }
            let mut pick: Option<NameId> = None;
            for &n0 in &s.unresolved {
                let a = &s.ns[n0];
                if a.reverse_deps_done && a.requirers > 0 && a.has_auto_selectable && !a.has_options
                {
                    pick = Some(n0);
                    break;
                }
                if pick.is_none_or(|p| s.compare_name_dequeue(n0, p) == Ordering::Less) {
                    pick = Some(n0);
                }
            }
            let Some(n) = pick else { break };
            s.select_package(n);
        }
        for (d, _) in &world {
            s.cset_gen_dep(None, d);
        }
        Outcome {
            install: s.install,
            errors: (0..db.pkgs.len()).filter(|&p| s.ps[p].error).collect(),
            error_count: s.errors,
            chosen: s.ns.iter().map(|n| n.chosen).collect(),
        }
    }

    fn compare_name_dequeue(&self, a: NameId, b: NameId) -> Ordering {
        let (a, b) = (&self.ns[a], &self.ns[b]);
        let r = b.has_auto_selectable.cmp(&a.has_auto_selectable);
        if r != Ordering::Equal {
            return r;
        }
        let r = a.solver_flags_set.cmp(&b.solver_flags_set);
        if r != Ordering::Equal {
            return r.reverse();
        }
        b.order_id.cmp(&a.order_id)
    }

    fn mark_error(&mut self, p: Option<PkgId>) {
        if let Some(p) = p
            && !self.ps[p].error
        {
            self.ps[p].error = true;
            self.errors += 1;
        }
    }

    fn queue_dirty(&mut self, n: NameId) {
        let s = &self.ns[n];
        if s.in_dirty || s.locked || (s.requirers == 0 && !s.reevaluate_iif) {
            return;
        }
        let s = &mut self.ns[n];
        s.in_dirty = true;
        s.dirty_gen += 1;
        self.dirty.push_back((n, s.dirty_gen));
    }

    fn queue_unresolved(&mut self, n: NameId) {
        if self.ns[n].locked {
            return;
        }
        let want = self.ns[n].requirers > 0 || self.ns[n].has_iif;
        if want && !self.ns[n].in_unresolved {
            self.ns[n].in_unresolved = true;
            self.unresolved.insert(0, n);
        } else if !want && self.ns[n].in_unresolved {
            self.ns[n].in_unresolved = false;
            self.unresolved.retain(|&x| x != n);
        }
    }

    fn reevaluate_reverse_deps(&mut self, n: NameId) {
        for &n0 in &self.db.names[n].rdepends {
            if !self.ns[n0].seen {
                continue;
            }
            self.ns[n0].reevaluate_deps = true;
            self.queue_dirty(n0);
        }
    }

    fn reevaluate_reverse_installif(&mut self, n: NameId) {
        for &n0 in &self.db.names[n].rinstall_if {
            if !self.ns[n0].seen || self.ns[n0].no_iif {
                continue;
            }
            self.ns[n0].reevaluate_iif = true;
            self.queue_dirty(n0);
        }
    }

    fn reevaluate_reverse_installif_pkg(&mut self, p: PkgId) {
        self.reevaluate_reverse_installif(self.db.pkgs[p].name);
        for &(n, _) in &self.db.pkgs[p].provides {
            self.reevaluate_reverse_installif(n);
        }
    }

    fn disqualify_package(&mut self, p: PkgId) {
        self.ps[p].pkg_selectable = false;
        self.reevaluate_reverse_deps(self.db.pkgs[p].name);
        for &(n, _) in &self.db.pkgs[p].provides {
            self.reevaluate_reverse_deps(n);
        }
        self.reevaluate_reverse_installif_pkg(p);
    }

    fn dependency_satisfiable(&self, d: &DepRef) -> bool {
        let n = &self.ns[d.name];
        if n.locked {
            return d.is_provided(self.db, n.chosen);
        }
        if n.requirers == 0 && d.is_provided(self.db, None) {
            return true;
        }
        self.db.names[d.name]
            .providers
            .iter()
            .any(|&p| self.ps[p.pkg].pkg_selectable && d.is_provided(self.db, Some(p)))
    }

    fn discover_name(&mut self, n: NameId) {
        if self.ns[n].seen {
            return;
        }
        self.ns[n].seen = true;
        self.ns[n].no_iif = true;
        let db = self.db;
        for p in &db.names[n].providers {
            let pkg = &db.pkgs[p.pkg];
            if !self.ps[p.pkg].seen {
                let tag_preferred =
                    pkg.entry.installed_size == 0 || pkg.repos & self.default_repos != 0;
                self.ps[p.pkg] = PkgSs {
                    seen: true,
                    pinning_allowed: DEFAULT_PINNING,
                    pinning_preferred: DEFAULT_PINNING,
                    pkg_selectable: true,
                    iif_failed: pkg.install_if.is_empty(),
                    tag_preferred,
                    tag_ok: tag_preferred,
                    ..PkgSs::default()
                };
                for d in &pkg.depends {
                    self.discover_name(d.name);
                }
            }
            self.ns[n].no_iif &= self.ps[p.pkg].iif_failed;
        }
        for p in &db.names[n].providers {
            let pkg = &db.pkgs[p.pkg];
            for &n0 in &db.names[pkg.name].rinstall_if {
                self.discover_name(n0);
            }
            for &(pn, _) in &pkg.provides {
                if self.ns[pn].seen {
                    continue;
                }
                self.discover_name(pn);
                for &n0 in &db.names[pn].rinstall_if {
                    self.discover_name(n0);
                }
            }
        }
        self.order_id += 1;
        self.ns[n].order_id = self.order_id;
    }

    fn name_requirers_changed(&mut self, n: NameId) {
        self.queue_unresolved(n);
        self.reevaluate_reverse_installif(n);
        self.queue_dirty(n);
    }

    fn inherit_pinning(&mut self, p: PkgId, parent: Option<PkgId>) {
        let repos = self.db.pkgs[p].repos;
        match parent {
            Some(pp) => {
                let allowed = self.ps[pp].pinning_allowed;
                self.ps[p].pinning_allowed |= allowed;
            }
            None => {
                self.ps[p].pinning_allowed |= self.pinning_inherit;
                self.ps[p].pinning_preferred = self.pinning_inherit;
                self.ps[p].tag_preferred = repos & self.db.mask_repos(self.pinning_inherit) != 0;
            }
        }
        let allowed = self.db.mask_repos(self.ps[p].pinning_allowed);
        self.ps[p].tag_ok |= repos & allowed != 0;
    }

    fn apply_constraint(&mut self, parent: Option<PkgId>, d: &DepRef) {
        let n = d.name;
        if !d.dep.conflict {
            self.ns[n].requirers += 1;
            if self.ns[n].requirers == 1 {
                self.name_requirers_changed(n);
            }
        }
        for &p in &self.db.names[n].providers {
            let provided = d.is_provided(self.db, Some(p));
            self.ps[p.pkg].conflicts += i32::from(!provided);
            if self.ps[p.pkg].pkg_selectable && self.ps[p.pkg].conflicts > 0 {
                self.disqualify_package(p.pkg);
            }
            if provided {
                self.inherit_pinning(p.pkg, parent);
            }
        }
    }

    fn exclude_non_providers(&mut self, n: NameId, must: NameId, skip_virtuals: bool) {
        if n == must {
            return;
        }
        let db = self.db;
        for &p in &db.names[n].providers {
            let pkg = &db.pkgs[p.pkg];
            if pkg.name == must
                || !self.ps[p.pkg].pkg_selectable
                || (skip_virtuals && db.provider_version(p).is_none())
            {
                continue;
            }
            if pkg
                .provides
                .iter()
                .any(|(pn, v)| *pn == must || (skip_virtuals && v.is_none()))
            {
                continue;
            }
            self.disqualify_package(p.pkg);
        }
    }

    fn is_provider_auto_selectable(&self, p: Provider) -> bool {
        self.db.provider_version(p).is_some()
            || self.db.pkgs[p.pkg].entry.provider_priority != 0
            || self.ns[self.db.pkgs[p.pkg].name].requirers > 0
    }

    fn reconsider_name(&mut self, n: NameId) {
        let db = self.db;
        let reevaluate_deps = std::mem::take(&mut self.ns[n].reevaluate_deps);
        let reevaluate_iif = std::mem::take(&mut self.ns[n].reevaluate_iif);
        self.ns[n].has_auto_selectable = false;
        let (mut num_options, mut num_tag_not_ok) = (0u32, 0u32);
        let (mut has_iif, mut no_iif) = (false, true);
        let mut first: Option<PkgId> = None;
        for &p in &db.names[n].providers {
            let pkg = &db.pkgs[p.pkg];
            self.ps[p.pkg].dependencies_merged = false;
            if reevaluate_deps {
                if !self.ps[p.pkg].pkg_selectable {
                    continue;
                }
                if pkg.depends.iter().any(|d| !self.dependency_satisfiable(d)) {
                    self.disqualify_package(p.pkg);
                }
            }
            if !self.ps[p.pkg].pkg_selectable {
                continue;
            }
            if reevaluate_iif && !self.ps[p.pkg].iif_triggered && !self.ps[p.pkg].iif_failed {
                let (mut trig, mut failed) = (true, false);
                for d in &pkg.install_if {
                    if !self.ns[d.name].locked {
                        trig = false;
                        break;
                    }
                    if !d.is_provided(db, self.ns[d.name].chosen) {
                        trig = false;
                        failed = true;
                        break;
                    }
                }
                self.ps[p.pkg].iif_triggered = trig;
                self.ps[p.pkg].iif_failed = failed;
            }
            if reevaluate_iif && self.ps[p.pkg].iif_triggered {
                for d in &pkg.install_if {
                    let parent = self.ns[d.name].chosen.map(|c| c.pkg);
                    self.inherit_pinning(p.pkg, parent);
                }
            }
            has_iif |= self.ps[p.pkg].iif_triggered;
            no_iif &= self.ps[p.pkg].iif_failed;
            self.ns[n].has_auto_selectable |= self.ps[p.pkg].iif_triggered;
            if self.ns[n].requirers == 0 {
                continue;
            }
            self.ps[p.pkg].dependencies_merged = true;
            first.get_or_insert(p.pkg);
            for d in &pkg.depends {
                if !d.dep.conflict {
                    merge_index(&mut self.ns[d.name].merge_depends, num_options);
                }
            }
            if merge_index(&mut self.ns[pkg.name].merge_provides, num_options) {
                self.ns[pkg.name].has_virtual_provides |= db.provider_version(p).is_none();
            }
            for (pn, v) in &pkg.provides {
                if merge_index(&mut self.ns[*pn].merge_provides, num_options) {
                    self.ns[*pn].has_virtual_provides |= v.is_none();
                }
            }
            num_tag_not_ok += u32::from(!self.ps[p.pkg].tag_ok);
            num_options += 1;
            if !self.ns[n].has_auto_selectable && self.is_provider_auto_selectable(p) {
                self.ns[n].has_auto_selectable = true;
            }
        }
        self.ns[n].has_options = num_options > 1 || num_tag_not_ok > 0;
        self.ns[n].has_iif = has_iif;
        self.ns[n].no_iif = no_iif;
        self.queue_unresolved(n);

        if let Some(fp) = first {
            for &p in &db.names[n].providers {
                self.ps[p.pkg].dependencies_used = self.ps[p.pkg].dependencies_merged;
            }
            let pkg = &db.pkgs[fp];
            if num_options == 1 {
                for d in &pkg.depends {
                    if merge_index_complete(&mut self.ns[d.name].merge_depends, num_options) {
                        self.apply_constraint(Some(fp), d);
                    }
                }
            } else {
                for d in &pkg.depends {
                    let n0 = d.name;
                    if merge_index_complete(&mut self.ns[n0].merge_depends, num_options)
                        && self.ns[n0].requirers == 0
                    {
                        self.ns[n0].requirers += 1;
                        self.name_requirers_changed(n0);
                        for &p in &db.names[n0].providers {
                            self.inherit_pinning(p.pkg, Some(fp));
                        }
                    }
                }
            }
            if merge_index_complete(&mut self.ns[pkg.name].merge_provides, num_options) {
                let sv = self.ns[pkg.name].has_virtual_provides;
                self.exclude_non_providers(pkg.name, n, sv);
            }
            for (pn, _) in &pkg.provides {
                if merge_index_complete(&mut self.ns[*pn].merge_provides, num_options) {
                    let sv = self.ns[*pn].has_virtual_provides;
                    self.exclude_non_providers(*pn, n, sv);
                }
            }
            self.ns[pkg.name].has_virtual_provides = false;
            for (pn, _) in &pkg.provides {
                self.ns[*pn].has_virtual_provides = false;
            }
        }
        self.ns[n].reverse_deps_done = !db.names[n]
            .rdepends
            .iter()
            .any(|&n0| self.ns[n0].seen && !self.ns[n0].locked);
    }

    fn compare_providers(&self, a: Provider, b: Option<Provider>) -> Ordering {
        let Some(b) = b else {
            return Ordering::Greater;
        };
        let db = self.db;
        let (pa, pb) = (&self.ps[a.pkg], &self.ps[b.pkg]);
        let (ka, kb) = (&db.pkgs[a.pkg], &db.pkgs[b.pkg]);
        let steps = [
            pa.pkg_selectable.cmp(&pb.pkg_selectable),
            pa.dependencies_used.cmp(&pb.dependencies_used),
            pb.conflicts.cmp(&pa.conflicts),
            pa.tag_ok.cmp(&pb.tag_ok),
            pa.tag_preferred.cmp(&pb.tag_preferred),
        ];
        if let Some(r) = steps.into_iter().find(|r| r.is_ne()) {
            return r;
        }
        if let (Some(va), Some(vb)) = (db.provider_version(a), db.provider_version(b)) {
            let r = version::compare(va, vb);
            if r.is_ne() {
                return r;
            }
        }
        if ka.name == kb.name {
            let r = version::compare(&ka.entry.version, &kb.entry.version);
            if r.is_ne() {
                return r;
            }
        }
        let r = ka.entry.provider_priority.cmp(&kb.entry.provider_priority);
        if r.is_ne() {
            return r;
        }
        let r = pa.pkg_selectable.cmp(&pb.pkg_selectable);
        if r.is_ne() {
            return r;
        }
        // Lowest repository wins: ffs(b) - ffs(a).
        db.first_repo(b.pkg).cmp(&db.first_repo(a.pkg))
    }

    fn assign_name(&mut self, n: NameId, p: Option<Provider>) {
        let db = self.db;
        let version_of = |p: Option<Provider>| p.and_then(|p| db.provider_version(p));
        if self.ns[n].locked {
            if version_of(p).is_none() && version_of(self.ns[n].chosen).is_none() {
                return;
            }
            self.mark_error(p.map(|p| p.pkg));
            self.mark_error(self.ns[n].chosen.map(|p| p.pkg));
            return;
        }
        self.ns[n].locked = true;
        self.ns[n].chosen = p;
        if self.ns[n].in_unresolved {
            self.ns[n].in_unresolved = false;
            self.unresolved.retain(|&x| x != n);
        }
        self.ns[n].in_dirty = false;
        for &p0 in &db.names[n].providers {
            if Some(p0.pkg) == p.map(|p| p.pkg) {
                continue;
            }
            if version_of(p).is_none() && db.provider_version(p0).is_none() {
                continue;
            }
            self.disqualify_package(p0.pkg);
        }
        self.reevaluate_reverse_deps(n);
        match p {
            Some(p) => self.reevaluate_reverse_installif_pkg(p.pkg),
            None => self.reevaluate_reverse_installif(n),
        }
    }

    fn select_package(&mut self, n: NameId) {
        let db = self.db;
        let mut chosen: Option<Provider> = None;
        if self.ns[n].requirers > 0 || self.ns[n].has_iif {
            for &p in &db.names[n].providers {
                let s = &self.ps[p.pkg];
                if self.ns[n].requirers == 0 && (!s.iif_triggered || !s.tag_ok || !s.pkg_selectable)
                {
                    continue;
                }
                if !self.is_provider_auto_selectable(p) {
                    continue;
                }
                if self.compare_providers(p, chosen) == Ordering::Greater {
                    chosen = Some(p);
                }
            }
        }
        match chosen {
            Some(c) => {
                let pkg = &db.pkgs[c.pkg];
                if !self.ps[c.pkg].pkg_selectable || !self.ps[c.pkg].tag_ok {
                    self.mark_error(Some(c.pkg));
                }
                self.assign_name(
                    pkg.name,
                    Some(Provider {
                        pkg: c.pkg,
                        via: None,
                    }),
                );
                for i in 0..pkg.provides.len() {
                    let pn = pkg.provides[i].0;
                    self.assign_name(
                        pn,
                        Some(Provider {
                            pkg: c.pkg,
                            via: Some(i),
                        }),
                    );
                }
                for d in &pkg.depends {
                    self.apply_constraint(Some(c.pkg), d);
                }
            }
            None => {
                self.assign_name(n, None);
                if self.ns[n].requirers > 0 {
                    self.errors += 1;
                }
            }
        }
    }

    // The changeset walk (apk `generate_changeset` with nothing installed).

    fn cset_gen_dep(&mut self, parent: Option<PkgId>, d: &DepRef) {
        let chosen = self.ns[d.name].chosen;
        if !d.is_provided(self.db, chosen) {
            self.mark_error(parent);
        }
        self.cset_gen_name_change(d.name);
        if let Some(c) = chosen
            && self.ps[c.pkg].error
        {
            self.mark_error(parent);
        }
    }

    fn cset_gen_name_change(&mut self, n: NameId) {
        if self.ns[n].in_changeset {
            return;
        }
        self.ns[n].in_changeset = true;
        let Some(c) = self.ns[n].chosen else { return };
        if self.ps[c.pkg].in_changeset {
            return;
        }
        self.ps[c.pkg].in_changeset = true;
        let db = self.db;
        let pkg = &db.pkgs[c.pkg];
        self.ns[pkg.name].in_changeset = true;
        for (pn, _) in &pkg.provides {
            self.ns[*pn].in_changeset = true;
        }
        for d in &pkg.depends {
            self.cset_gen_dep(Some(c.pkg), d);
        }
        self.install.push(c.pkg);
        let mut rev: Vec<NameId> = db.names[pkg.name].rinstall_if.clone();
        for (pn, _) in &pkg.provides {
            rev.extend(&db.names[*pn].rinstall_if);
        }
        for n0 in rev {
            self.cset_check_install_by_iif(n0);
        }
    }

    fn cset_check_install_by_iif(&mut self, n: NameId) {
        let Some(c) = self.ns[n].chosen else { return };
        if !self.ns[n].seen || self.ns[n].in_changeset {
            return;
        }
        for d in &self.db.pkgs[c.pkg].install_if {
            if !self.ns[d.name].in_changeset || !d.is_provided(self.db, self.ns[d.name].chosen) {
                return;
            }
        }
        self.cset_gen_name_change(n);
    }
}

fn merge_index(index: &mut u32, num_options: u32) -> bool {
    if *index != num_options {
        return false;
    }
    *index = num_options + 1;
    true
}

fn merge_index_complete(index: &mut u32, num_options: u32) -> bool {
    let r = *index == num_options;
    *index = 0;
    r
}

#[cfg(test)]
#[path = "solver_tests.rs"]
mod tests;
