//! A step running as a `run-as` user cannot make itself root: no capabilities unless the
//! config adds them (and then exactly those), `no_new_privs` set, setuid-root programs of the
//! root useless (nosuid, unmapped owner), `/etc/passwd` and `/etc/group` read-only. And a
//! `run-as: root` step is uid 0 only inside its user namespace, with no capabilities. Each
//! scenario runs as root and as uid 65534, on the host's root (no repository needed).

use crate::build::common::*;

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("      {l}\n")).collect()
}

/// `/proc/self/status` field `name` must be exactly `value`, else a LEAK line.
fn status_is(name: &str, value: &str) -> String {
    format!(
        "v=$(awk '$1 == \"{name}:\" {{ print $2 }}' /proc/self/status)\n\
         [ \"$v\" = {value} ] || echo \"LEAK: {name} $v, expected {value}\"\n"
    )
}

const NO_CAPS: &str = "0000000000000000";

#[test]
fn a_run_as_user_cannot_gain_root_or_capabilities() {
    require_bwrap!();
    let mut script = String::from("[ \"$(id -u)\" = 34567 ] || echo \"LEAK: uid $(id -u)\"\n");
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        script.push_str(&status_is(field, NO_CAPS));
    }
    script.push_str(&status_is("NoNewPrivs", "1"));
    script.push_str(
        "for f in /usr/bin/su /bin/su /usr/bin/sudo; do\n\
         \x20 [ -u \"$f\" ] || continue\n\
         \x20 echo \"trying setuid $f\"\n\
         \x20 [ \"$(\"$f\" -n id -u </dev/null 2>/dev/null)\" = 0 ] && echo \"LEAK: $f -n gave uid 0\"\n\
         \x20 [ \"$(\"$f\" -c 'id -u' root </dev/null 2>/dev/null)\" = 0 ] && echo \"LEAK: $f -c gave uid 0\"\n\
         done\n\
         cp /bin/sh ./own-sh && chmod 4755 ./own-sh && [ \"$(./own-sh -c 'id -u')\" = 34567 ] \
         || echo 'LEAK: a setuid copy changed the uid'\n\
         if echo 'evil::0:0::/:/bin/sh' >> /etc/passwd 2>/dev/null; then echo 'LEAK: wrote /etc/passwd'; fi\n\
         if echo 'evil:x:0:svc' >> /etc/group 2>/dev/null; then echo 'LEAK: wrote /etc/group'; fi\n\
         grep -q '^svc:x:34567:34567:' /etc/passwd && echo 'control: passwd is the config'\"'\"'s'\n\
         echo control: reached the end\n",
    );
    for who in users() {
        let t = TestEnv::new();
        t.config(&format!(
            "environment:\n  accounts:\n    run-as: svc\n    users:\n      - username: svc\n        \
             uid: 34567\n        gid: 34567\n    groups:\n      - groupname: svc\n        gid: 34567\n\
             pipeline:\n  - runs: |\n{}",
            indent(&script)
        ));
        let run = t.build(who, &["--no-network", "--rootfs", "host"]);
        run.ok();
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(
            run.stderr.contains("| control: passwd is the config's"),
            "{who:?}: {run}"
        );
        assert!(
            run.stderr.contains("| control: reached the end"),
            "{who:?}: {run}"
        );
    }
}

#[test]
fn run_as_root_holds_no_capabilities_and_added_ones_are_exactly_those() {
    require_bwrap!();
    for who in users() {
        // run-as root: uid 0 in the namespace, nothing more.
        let t = TestEnv::new();
        let mut script = String::from("[ \"$(id -u)\" = 0 ] || echo \"LEAK: uid $(id -u)\"\n");
        for field in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            script.push_str(&status_is(field, NO_CAPS));
        }
        script.push_str("echo control: root checked\n");
        t.config(&format!(
            "environment:\n  accounts:\n    run-as: root\npipeline:\n  - runs: |\n{}",
            indent(&script)
        ));
        let run = t.build(who, &["--no-network", "--rootfs", "host"]);
        run.ok();
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(run.stderr.contains("| control: root checked"), "{who:?}");

        // capabilities.add CAP_NET_RAW for the build user: bit 13 and nothing else; the
        // dropped one is gone even though ALL was added first.
        let t = TestEnv::new();
        let mut script = String::new();
        for field in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            script.push_str(&status_is(field, "0000000000002000"));
        }
        script.push_str("echo control: caps checked\n");
        t.config(&format!(
            "environment:\n  accounts:\n    run-as: build\ncapabilities:\n  add: [CAP_NET_RAW]\n  \
             drop: [CAP_SYS_ADMIN]\npipeline:\n  - runs: |\n{}",
            indent(&script)
        ));
        let run = t.build(who, &["--no-network", "--rootfs", "host"]);
        run.ok();
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(run.stderr.contains("| control: caps checked"), "{who:?}");
    }
}

#[test]
fn bad_capability_names_and_unknown_run_as_users_are_refused_before_any_step() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        "environment:\n  accounts:\n    run-as: ghost\ncapabilities:\n  add:\n    - NET_ADMIN\n\
         pipeline:\n  - runs: touch /home/build/ran\n",
    );
    let run = t.build(Who::Root, &["--no-network", "--rootfs", "host"]);
    run.exit(2);
    assert!(
        run.stderr.contains("melange.yaml:10:")
            && run.stderr.contains("`environment.accounts.run-as`")
            && run.stderr.contains("`ghost` names no user"),
        "{run}"
    );
    assert!(
        run.stderr.contains("`capabilities.add[0]`")
            && run.stderr.contains("write `CAP_NET_ADMIN`"),
        "{run}"
    );
    assert!(!t.cache().exists(), "nothing is created before the error");
}
