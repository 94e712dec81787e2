//! bwrap's real messages (bubblewrap 0.4 to 0.11) mapped to failures and fixes.

use super::*;

fn facts() -> HostFacts {
    HostFacts {
        in_container: false,
        userns_clone: None,
        max_user_namespaces: Some("63000".into()),
        apparmor_restrict: None,
        os_release: "ID=debian\n".into(),
    }
}

#[test]
fn apparmor_uid_map_denial() {
    let f = HostFacts {
        apparmor_restrict: Some("1".into()),
        ..facts()
    };
    let e = classify("bwrap: setting up uid map: Permission denied\n", &f);
    assert_eq!(e.failure, ProbeFailure::AppArmor);
    assert!(
        e.hint
            .contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
        "{e}"
    );
    assert!(
        e.message.ends_with("setting up uid map: Permission denied"),
        "{e}"
    );
}

#[test]
fn debian_sysctl_off() {
    let f = HostFacts {
        userns_clone: Some("0".into()),
        ..facts()
    };
    let stderr = "bwrap: No permissions to creating new namespace, likely because the kernel \
                  does not allow non-privileged user namespaces. On e.g. debian this can be \
                  enabled with 'sysctl kernel.unprivileged_userns_clone=1'.\n";
    let e = classify(stderr, &f);
    assert_eq!(e.failure, ProbeFailure::UsernsDisabled);
    assert!(e.hint.contains("kernel.unprivileged_userns_clone=1"), "{e}");
    // Newer wording, same cause.
    let e = classify(
        "bwrap: No permissions to create a new namespace, likely because",
        &f,
    );
    assert_eq!(e.failure, ProbeFailure::UsernsDisabled);
}

#[test]
fn no_namespaces_left() {
    let e = classify(
        "bwrap: Creating new namespace failed: No space left on device\n",
        &facts(),
    );
    assert_eq!(e.failure, ProbeFailure::UsernsDisabled);
    assert!(e.hint.contains("user.max_user_namespaces"), "{e}");
}

#[test]
fn container_forbids_namespaces_or_proc() {
    let f = HostFacts {
        in_container: true,
        ..facts()
    };
    let e = classify(
        "bwrap: Creating new namespace failed: Operation not permitted\n",
        &f,
    );
    assert_eq!(e.failure, ProbeFailure::Container);
    assert!(e.hint.contains("seccomp=unconfined"), "{e}");
    let e = classify(
        "bwrap: Can't mount proc on /newroot/proc: Operation not permitted\n",
        &f,
    );
    assert_eq!(e.failure, ProbeFailure::Container);
    assert!(e.hint.contains("systempaths=unconfined"), "{e}");
}

#[test]
fn uid_map_denied_without_apparmor_lists_every_sysctl() {
    let e = classify("bwrap: setting up uid map: Permission denied\n", &facts());
    assert_eq!(e.failure, ProbeFailure::UsernsDisabled);
    for s in [
        "kernel.unprivileged_userns_clone",
        "user.max_user_namespaces",
        "kernel.apparmor_restrict_unprivileged_userns",
    ] {
        assert!(e.hint.contains(s), "{s} missing from {e}");
    }
}

#[test]
fn kernel_without_user_namespaces() {
    let e = classify(
        "bwrap: Creating new namespace failed, likely because the kernel does not support \
         user namespaces.  bwrap must be installed setuid on such systems.\n",
        &facts(),
    );
    assert_eq!(e.failure, ProbeFailure::NoKernelSupport);
    assert!(e.hint.contains("CONFIG_USER_NS"), "{e}");
}

#[test]
fn anything_else_shows_bwraps_words() {
    let e = classify("bwrap: Unknown option --frobnicate\n", &facts());
    assert_eq!(e.failure, ProbeFailure::Other);
    assert!(e.message.contains("Unknown option --frobnicate"), "{e}");
}

#[test]
fn install_hint_per_distribution() {
    let hint = |os: &str| install_hint(os);
    assert!(hint("ID=ubuntu\nID_LIKE=debian\n").contains("sudo apt-get install bubblewrap"));
    assert!(hint("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n").contains("dnf install"));
    assert!(hint("ID=arch\n").contains("pacman -S bubblewrap"));
    assert!(hint("ID=alpine\n").contains("apk add bubblewrap"));
    let unknown = hint("");
    for cmd in ["apt-get", "dnf", "pacman", "apk add"] {
        assert!(unknown.contains(cmd), "{unknown}");
    }
}

#[test]
fn locate_honours_the_override() {
    let f = facts();
    let e = locate(Some("/nonexistent/bwrap".into()), &f).unwrap_err();
    assert_eq!(e.failure, ProbeFailure::NotInstalled);
    assert!(
        e.message
            .contains("MELWRAP_BWRAP names `/nonexistent/bwrap`"),
        "{e}"
    );
    assert!(e.hint.contains("apt-get install bubblewrap"), "{e}");
    let found = locate(Some("/usr/bin/bwrap".into()), &f).unwrap();
    assert!(found.is_absolute());
}

/// The real probe, against the bwrap installed on this machine. Skips (with the reason)
/// where bwrap cannot work, except under `CI=true`.
#[test]
fn probe_succeeds_here_for_both_identities() {
    let facts = HostFacts::read();
    let bwrap = match probe_as(Identity::for_current_user(), &facts) {
        Ok(b) => b,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: bwrap is not usable here: {e}");
            return;
        }
        Err(e) => panic!("bwrap must work under CI=true: {e}"),
    };
    assert!(bwrap.path.is_absolute());
    assert!(
        bwrap.version.chars().next().unwrap().is_ascii_digit(),
        "{bwrap:?}"
    );
    assert_eq!(probe(), Ok(bwrap));
    // As root, also the user-namespace path every ordinary user takes.
    probe_as(
        Identity::Build {
            uid: 1000,
            gid: 1000,
        },
        &facts,
    )
    .unwrap();
}
