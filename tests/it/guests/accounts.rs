//! melange's end-to-end accounts configs (root, the build user, numeric, a non-standard user
//! and home; rewritten in `testdata/guests/accounts-*.yaml`) pass `build` and `test` in
//! guests assembled from the served busybox repository: every step checks its uid, gid, user
//! and group names (from the generated /etc/passwd and /etc/group) and that its output dir,
//! HOME, working directory, home and the cache take files. What the steps write stays the
//! invoking user's on the host (the build ids' when melwrap is root).

use super::fixture::{Repo, owner, s};

/// Each config, the packages it builds with steps, and the tests it has.
const CONFIGS: [(&str, &str, usize, usize); 4] = [
    ("accounts-root.yaml", "acct-root", 2, 4),
    ("accounts-non-root.yaml", "acct-build-user", 2, 4),
    ("accounts-numeric.yaml", "acct-numeric", 1, 3),
    ("accounts-nonstd.yaml", "acct-nonstd", 2, 2),
];

#[test]
fn accounts_configs_build_and_test_in_guests_as_root_and_as_nobody() {
    let Some(repo) = Repo::new() else {
        return;
    };
    for user in repo.users() {
        let who = user.who;
        for (config, package, built_with_steps, tests) in CONFIGS {
            let out = user.home.join(format!("out-{package}"));
            let ws = user.home.join(format!("ws-{package}"));
            let b = user.melwrap(
                "build",
                &[
                    "--out-dir",
                    s(&out),
                    "--workspace-dir",
                    s(&ws),
                    s(&user.config(config)),
                ],
            );
            let all = b.output();
            assert_eq!(b.code, Some(0), "{who} {config}: {all}");
            assert_eq!(
                all.matches("| identity-ok").count(),
                built_with_steps,
                "{who} {config}: {all}"
            );
            // busybox and baselayout: assembled by the first config, reused by the others.
            assert!(all.contains("(2 packages)"), "{who} {config}: {all}");
            // The packages are the invoking user's; what the steps wrote, the step owner's.
            let apk = out
                .join(crate::repo::fixture::ARCH)
                .join(format!("{package}-0.1.0-r0.apk"));
            assert_eq!(owner(&apk), user.host_uid(), "{who} {config}");
            let written = crate::support::walk(&ws)
                .into_iter()
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("by-uid-"))
                })
                .unwrap_or_else(|| panic!("{who} {config}: no file from a step in {ws:?}"));
            assert_eq!(
                owner(&written),
                user.step_owner(),
                "{who} {config}: {written:?}"
            );

            let t = user.melwrap("test", &["--out-dir", s(&out), s(&user.config(config))]);
            let all = t.output();
            assert_eq!(t.code, Some(0), "{who} {config}: {all}");
            assert!(
                all.contains(&format!("{tests} passed, 0 failed")),
                "{who} {config}: {all}"
            );
            assert_eq!(
                all.matches("| identity-ok").count(),
                tests,
                "{who} {config}: {all}"
            );
            assert_eq!(
                all.matches("is tested in the guest").count(),
                tests,
                "{who} {config}: {all}"
            );
        }
    }
}
