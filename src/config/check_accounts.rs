//! `accounts` (of `environment`, `test.environment` and each subpackage's `test.environment`)
//! and the top-level `capabilities`: what would corrupt `/etc/passwd` or `/etc/group`, a
//! `run-as` no user answers to (melange panics), and capability names bwrap refuses.

use crate::diag::Diagnostic;
use crate::guest::accounts::{self, field_problem};
use crate::sandbox::caps;

use super::load::LoadedConfig;
use super::model::Accounts;

/// Every accounts and capabilities problem of the file.
pub fn check(loaded: &LoadedConfig) -> Vec<Diagnostic> {
    let cfg = &loaded.config;
    let mut out = Vec::new();
    accounts_of(
        loaded,
        "environment.accounts",
        &cfg.environment.accounts,
        &mut out,
    );
    if let Some(test) = &cfg.test {
        accounts_of(
            loaded,
            "test.environment.accounts",
            &test.environment.accounts,
            &mut out,
        );
    }
    for (i, sp) in cfg.subpackages.iter().enumerate() {
        if let Some(test) = &sp.test {
            accounts_of(
                loaded,
                &format!("subpackages[{i}].test.environment.accounts"),
                &test.environment.accounts,
                &mut out,
            );
        }
    }
    for (list, names) in [
        ("add", &cfg.capabilities.add),
        ("drop", &cfg.capabilities.drop),
    ] {
        for (i, name) in names.iter().enumerate() {
            if let Err(e) = caps::normalize(name) {
                out.push(
                    loaded
                        .diagnostic(&format!("capabilities.{list}[{i}]"), e)
                        .hint("names are bwrap's: CAP_ followed by the kernel's name, such as CAP_NET_ADMIN, or ALL"),
                );
            }
        }
    }
    out
}

fn accounts_of(loaded: &LoadedConfig, base: &str, written: &Accounts, out: &mut Vec<Diagnostic>) {
    let substituted = |s: &str| s.contains("${{");
    let mut field = |at: String, problem: Option<String>| {
        if let Some(p) = problem {
            out.push(loaded.diagnostic(&at, p));
        }
    };
    for (i, u) in written.users.iter().enumerate() {
        let at = |f: &str| format!("{base}.users[{i}].{f}");
        field(at("username"), field_problem("username", &u.username, true));
        field(at("homedir"), field_problem("homedir", &u.homedir, false));
        field(at("shell"), field_problem("shell", &u.shell, false));
    }
    for (i, g) in written.groups.iter().enumerate() {
        let at = |f: &str| format!("{base}.groups[{i}].{f}");
        field(
            at("groupname"),
            field_problem("groupname", &g.groupname, true),
        );
        for (j, m) in g.members.iter().enumerate() {
            field(
                format!("{base}.groups[{i}].members[{j}]"),
                field_problem("member", m, true),
            );
        }
    }
    if substituted(&written.run_as) {
        return;
    }
    if let Err(e) = accounts::run_as(&accounts::with_defaults(written)) {
        out.push(
            loaded.diagnostic(&format!("{base}.run-as"), e).hint(
                "name root, 0, build (uid 1000, added by default), or a user listed in users:",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn problems(text: &str) -> Vec<String> {
        let loaded = crate::config::load::decode_only(Path::new("m.yaml"), text).unwrap();
        super::check(&loaded)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const HEAD: &str = "package:\n  name: p\n  version: 1\n";

    #[test]
    fn good_accounts_and_capabilities_pass() {
        let text = format!(
            "{HEAD}environment:\n  accounts:\n    run-as: nonroot\n    users:\n      - username: nonroot\n        uid: 12345\n        homedir: /srv/n\ncapabilities:\n  add: [CAP_NET_ADMIN, cap_sys_chroot]\n  drop: [ALL]\n"
        );
        assert!(problems(&text).is_empty(), "{:?}", problems(&text));
        let numeric = format!("{HEAD}test:\n  environment:\n    accounts:\n      run-as: 1000\n");
        assert!(problems(&numeric).is_empty());
    }

    #[test]
    fn bad_run_as_names_and_caps_are_located() {
        let text = format!(
            "{HEAD}subpackages:\n  - name: s\n    test:\n      environment:\n        accounts:\n          run-as: ghost\ncapabilities:\n  add:\n    - NET_ADMIN\n  drop:\n    - CAP_NOPE\nenvironment:\n  accounts:\n    users:\n      - username: 'a:b'\n        uid: 5\n"
        );
        let p = problems(&text).join("\n");
        assert!(
            p.contains("m.yaml:9:")
                && p.contains("`subpackages[0].test.environment.accounts.run-as`")
                && p.contains("`ghost` names no user"),
            "{p}"
        );
        assert!(
            p.contains("`capabilities.add[0]`") && p.contains("write `CAP_NET_ADMIN`"),
            "{p}"
        );
        assert!(
            p.contains("`capabilities.drop[0]`") && p.contains("not a Linux capability"),
            "{p}"
        );
        assert!(
            p.contains("`environment.accounts.users[0].username`"),
            "{p}"
        );
    }
}
