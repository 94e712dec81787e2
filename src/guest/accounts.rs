//! Accounts: a config's `accounts` (melange's defaults added) as `/etc/passwd` and
//! `/etc/group` text, and who a step runs as (`run-as`). Pure: the root's own files come in
//! as text and the result goes out as text.
//!
//! Facts from melange (`pkg/config/config.go`, `pkg/build/build.go: runAsUID/runAsGID`) and
//! apko (`pkg/build/accounts.go`): the group `build` (gid 1000, member `build`) and the user
//! `build` (uid 1000, gid 1000) are added unless a group or user of that name is written; a
//! user's shell defaults to `/bin/sh`, its home to `/home/<name>`, its gid to its uid; entries
//! read `name:x:uid:gid:Account created by apko:home:shell` and `name:x:gid:m1,m2`. `run-as`
//! may be empty (the runner's default), `root` or `0`, a number, or a user's name.

use crate::config::model::{Accounts, Group, User};

/// melange's build user and group name.
pub const BUILD_USER: &str = "build";
/// Their uid and gid.
pub const BUILD_ID: u32 = 1000;

/// The GECOS field apko writes for the accounts it creates.
const INFO: &str = "Account created by apko";
/// The root entries written when the root's own files have none.
const ROOT_USER: &str = "root:x:0:0:root:/root:/bin/sh";
const ROOT_GROUP: &str = "root:x:0:";

/// `accounts` with melange's `build` group and user added unless present by name.
pub fn with_defaults(accounts: &Accounts) -> Accounts {
    let mut out = accounts.clone();
    if !out.groups.iter().any(|g| g.groupname == BUILD_USER) {
        out.groups.push(Group {
            groupname: BUILD_USER.into(),
            gid: BUILD_ID,
            members: vec![BUILD_USER.into()],
        });
    }
    if !out.users.iter().any(|u| u.username == BUILD_USER) {
        out.users.push(User {
            username: BUILD_USER.into(),
            uid: BUILD_ID,
            gid: Some(BUILD_ID),
            ..User::default()
        });
    }
    out
}

/// Who a step runs as inside its user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUser {
    pub uid: u32,
    pub gid: u32,
    /// Its home directory as `/etc/passwd` gives it.
    pub home: String,
}

/// A user's home directory (apko's default `/home/<name>`).
pub fn home_of(user: &User) -> String {
    if user.homedir.is_empty() {
        format!("/home/{}", user.username)
    } else {
        user.homedir.clone()
    }
}

fn user_entry(user: &User) -> StepUser {
    StepUser {
        uid: user.uid,
        gid: user.gid.unwrap_or(user.uid),
        home: home_of(user),
    }
}

/// melange's `run-as` rule over `accounts` (defaults already added): `None` for the runner's
/// default; root for `root` or `0`; otherwise the user of that name or uid, whose gid falls
/// back to its uid. A name or number no user has is an error (melange panics).
pub fn run_as(accounts: &Accounts) -> Result<Option<StepUser>, String> {
    let run_as = accounts.run_as.trim();
    match run_as {
        "" => return Ok(None),
        "root" | "0" => {
            return Ok(Some(StepUser {
                uid: 0,
                gid: 0,
                home: "/root".into(),
            }));
        }
        _ => {}
    }
    let found = if run_as.bytes().all(|b| b.is_ascii_digit()) {
        let uid: u32 = run_as
            .parse()
            .map_err(|_| format!("run-as `{run_as}` is not a uid (0 to 4294967294)"))?;
        accounts.users.iter().find(|u| u.uid == uid)
    } else {
        accounts.users.iter().find(|u| u.username == run_as)
    };
    match found {
        Some(user) => Ok(Some(user_entry(user))),
        None => {
            let names: Vec<String> = accounts
                .users
                .iter()
                .map(|u| format!("{} ({})", u.username, u.uid))
                .collect();
            Err(format!(
                "run-as `{run_as}` names no user of accounts.users (known: root (0), {})",
                names.join(", ")
            ))
        }
    }
}

/// The first field of each entry line.
fn names(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').next().unwrap_or(""))
}

/// The root's own lines, without those of `replaced` names (the config's entries win).
fn kept_lines<'a>(existing: &'a str, replaced: &[&str]) -> Vec<&'a str> {
    existing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !replaced.contains(&l.split(':').next().unwrap_or("")))
        .collect()
}

fn finish(lines: Vec<String>) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `/etc/passwd`: root first when the root's own file (`existing`, empty when absent) has no
/// root entry, then that file's lines, then the config's users (replacing lines of the same
/// name).
pub fn passwd_text(existing: &str, accounts: &Accounts) -> String {
    let written: Vec<&str> = accounts.users.iter().map(|u| u.username.as_str()).collect();
    let mut lines: Vec<String> = Vec::new();
    if !names(existing).any(|n| n == "root") && !written.contains(&"root") {
        lines.push(ROOT_USER.into());
    }
    lines.extend(kept_lines(existing, &written).into_iter().map(String::from));
    for u in &accounts.users {
        let shell = if u.shell.is_empty() {
            "/bin/sh"
        } else {
            &u.shell
        };
        let e = user_entry(u);
        lines.push(format!(
            "{}:x:{}:{}:{INFO}:{}:{shell}",
            u.username, e.uid, e.gid, e.home
        ));
    }
    finish(lines)
}

/// `/etc/group`, built the same way as [`passwd_text`].
pub fn group_text(existing: &str, accounts: &Accounts) -> String {
    let written: Vec<&str> = accounts
        .groups
        .iter()
        .map(|g| g.groupname.as_str())
        .collect();
    let mut lines: Vec<String> = Vec::new();
    if !names(existing).any(|n| n == "root") && !written.contains(&"root") {
        lines.push(ROOT_GROUP.into());
    }
    lines.extend(kept_lines(existing, &written).into_iter().map(String::from));
    for g in &accounts.groups {
        lines.push(format!(
            "{}:x:{}:{}",
            g.groupname,
            g.gid,
            g.members.join(",")
        ));
    }
    finish(lines)
}

/// What is wrong with a name, home or shell written into a passwd or group line, if anything:
/// the separators `:` and `,` (names), and line breaks, would make other entries.
pub fn field_problem(what: &str, value: &str, name_like: bool) -> Option<String> {
    if name_like && value.trim().is_empty() {
        return Some(format!("{what} is empty"));
    }
    let bad = |c: char| c == ':' || c == '\n' || c == '\r' || c == '\0' || (name_like && c == ',');
    if value.contains(bad) {
        return Some(format!(
            "{what} `{}` contains `:`{} or a line break, which would corrupt /etc/passwd or /etc/group",
            value.escape_debug(),
            if name_like { ", `,`" } else { "" }
        ));
    }
    if !name_like && !value.is_empty() && !value.starts_with('/') {
        return Some(format!("{what} `{value}` is not an absolute path"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32, gid: Option<u32>) -> User {
        User {
            username: name.into(),
            uid,
            gid,
            ..User::default()
        }
    }

    fn accounts(run_as: &str, users: Vec<User>, groups: Vec<Group>) -> Accounts {
        with_defaults(&Accounts {
            run_as: run_as.into(),
            users,
            groups,
        })
    }

    #[test]
    fn defaults_add_build_unless_written() {
        let a = accounts("", vec![], vec![]);
        assert_eq!(a.users.len(), 1);
        assert_eq!(a.users[0].uid, 1000);
        assert_eq!(a.groups[0].members, vec!["build".to_string()]);
        let own = accounts("", vec![user("build", 2000, None)], vec![]);
        assert_eq!(own.users.len(), 1);
        assert_eq!(own.users[0].uid, 2000);
    }

    #[test]
    fn run_as_forms() {
        let nonroot = user("nonroot", 12345, Some(12346));
        let nogid = user("nogid", 12347, None);
        let a = |r: &str| accounts(r, vec![nonroot.clone(), nogid.clone()], vec![]);
        assert_eq!(run_as(&a("")).unwrap(), None);
        for root in ["root", "0"] {
            let u = run_as(&a(root)).unwrap().unwrap();
            assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        }
        let b = run_as(&a("build")).unwrap().unwrap();
        assert_eq!(
            (b.uid, b.gid, b.home.as_str()),
            (1000, 1000, crate::guest::WORKSPACE)
        );
        assert_eq!(run_as(&a("1000")).unwrap(), run_as(&a("build")).unwrap());
        let n = run_as(&a("12345")).unwrap().unwrap();
        assert_eq!((n.uid, n.gid), (12345, 12346));
        assert_eq!(run_as(&a("nonroot")).unwrap().unwrap(), n);
        // No gid: melange falls back to the uid.
        let g = run_as(&a("nogid")).unwrap().unwrap();
        assert_eq!((g.uid, g.gid), (12347, 12347));
        let missing = run_as(&a("nobody")).unwrap_err();
        assert!(missing.contains("`nobody` names no user"), "{missing}");
        assert!(run_as(&a("4242")).is_err());
    }

    #[test]
    fn passwd_and_group_text_match_apko_with_a_root_entry() {
        let mut home = user("svc", 500, None);
        home.homedir = "/var/lib/svc".into();
        home.shell = "/bin/false".into();
        let a = accounts(
            "",
            vec![home],
            vec![Group {
                groupname: "svc".into(),
                gid: 500,
                members: vec!["svc".into(), "build".into()],
            }],
        );
        assert_eq!(
            passwd_text("", &a),
            "root:x:0:0:root:/root:/bin/sh\n\
             svc:x:500:500:Account created by apko:/var/lib/svc:/bin/false\n\
             build:x:1000:1000:Account created by apko:/home/build:/bin/sh\n"
        );
        assert_eq!(
            group_text("", &a),
            "root:x:0:\nsvc:x:500:svc,build\nbuild:x:1000:build\n"
        );
        // The root's own entries come first and are kept; a config entry replaces one of
        // the same name; no second root.
        let existing =
            "root:x:0:0:root:/root:/bin/ash\nbuild:x:7:7::/:/bin/sh\ndaemon:x:2:2::/:/bin/false\n";
        let text = passwd_text(existing, &a);
        assert!(text.starts_with("root:x:0:0:root:/root:/bin/ash\ndaemon:x:2:2"));
        let starting = |n: &str| text.lines().filter(|l| l.starts_with(n)).count();
        assert_eq!(starting("build:"), 1, "{text}");
        assert_eq!(starting("root:"), 1, "{text}");
    }

    #[test]
    fn field_problems() {
        assert!(field_problem("username", "a:b", true).is_some());
        assert!(field_problem("username", "a,b", true).is_some());
        assert!(field_problem("username", "", true).is_some());
        assert!(field_problem("homedir", "rel/dir", false).is_some());
        assert!(field_problem("homedir", "/x\ny", false).is_some());
        assert_eq!(field_problem("homedir", "/srv/x", false), None);
        assert_eq!(field_problem("homedir", "", false), None);
        assert_eq!(field_problem("username", "nonroot", true), None);
    }
}
