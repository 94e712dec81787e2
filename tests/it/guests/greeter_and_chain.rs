//! greeter: `greeter-english` ships only the link `hello -> greeter`, so its test passes only
//! when its runtime dependency `greeter` (and through it busybox) is installed in the test's
//! guest, resolved from the out dir as a repository. And a chain: a package built into the
//! out dir is installed in the next config's build guest through `--repository-append`.

use super::fixture::{Repo, s};

#[test]
fn greeter_english_is_tested_with_its_runtime_dependency() {
    let Some(repo) = Repo::new() else {
        return;
    };
    for user in repo.users() {
        let who = user.who;
        let config = user.config("greeter.yaml");
        // A signed out dir: `build --test` trusts it through the signing key's public half.
        let key = user.home.join("own.rsa");
        let k = crate::repo::cli::melwrap(&["keygen", "-q", "--key-size", "2048", s(&key)]);
        assert_eq!(k.code, Some(0), "{}", k.stderr);
        if let Some(uid) = user.uid {
            for p in [key.clone(), user.home.join("own.rsa.pub")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(uid)).unwrap();
            }
        }
        let out = user.home.join("out-greeter");
        let b = user.melwrap(
            "build",
            &[
                "--test",
                "--signing-key",
                s(&key),
                "--out-dir",
                s(&out),
                s(&config),
            ],
        );
        let all = b.output();
        assert_eq!(b.code, Some(0), "{who}: {all}");
        assert!(all.contains("| greeter-english-ok"), "{who}: {all}");
        assert!(all.contains("2 passed, 0 failed"), "{who}: {all}");

        // `melwrap test` on its own, the key named as melange's e2e tests do.
        let pubkey = user.home.join("own.rsa.pub");
        let t = user.melwrap(
            "test",
            &[
                "-k",
                s(&pubkey),
                "--out-dir",
                s(&out),
                s(&config),
                "greeter-english",
            ],
        );
        let all = t.output();
        assert_eq!(t.code, Some(0), "{who}: {all}");
        assert!(all.contains("| greeter-english-ok"), "{who}: {all}");

        // Without the key, the signed out dir is not trusted: said, before any step.
        let t = user.melwrap("test", &["--out-dir", s(&out), s(&config)]);
        assert_eq!(t.code, Some(2), "{who}: {}", t.output());
        assert!(
            t.output().contains("which is not in the keyring"),
            "{who}: {}",
            t.output()
        );

        // Control: over the host root, with the files layered and no dependency installed,
        // the link dangles and the test fails.
        let t = user.melwrap(
            "test",
            &[
                "--rootfs",
                "host",
                "--out-dir",
                s(&out),
                s(&config),
                "greeter-english",
            ],
        );
        assert_eq!(t.code, Some(1), "{who}: {}", t.output());
    }
}

#[test]
fn a_chain_of_configs_builds_in_order_through_the_out_dir() {
    let Some(repo) = Repo::new() else {
        return;
    };
    for user in repo.users() {
        let who = user.who;
        let out = user.home.join("packages");
        // Nothing there yet: chain-app cannot be set up (exit 2, before any step).
        let early = user.melwrap(
            "build",
            &[
                "-r",
                s(&out),
                "--out-dir",
                s(&out),
                s(&user.config("chain-app.yaml")),
            ],
        );
        assert_eq!(early.code, Some(2), "{who}: {}", early.output());
        let lib = user.melwrap(
            "build",
            &["--out-dir", s(&out), s(&user.config("chain-lib.yaml"))],
        );
        assert_eq!(lib.code, Some(0), "{who}: {}", lib.output());
        // Its test guest holds chain-lib alone: no shell, said before any step (exit 2);
        // --test-package-append adds one, as in melange.
        let lib_config = user.config("chain-lib.yaml");
        let bare = user.melwrap("test", &["--out-dir", s(&out), s(&lib_config)]);
        assert_eq!(bare.code, Some(2), "{who}: {}", bare.output());
        assert!(
            bare.output().contains("has no /bin/sh")
                && bare.output().contains("--test-package-append"),
            "{who}: {}",
            bare.output()
        );
        let with_shell = user.melwrap(
            "test",
            &[
                "--test-package-append",
                "busybox",
                "--out-dir",
                s(&out),
                s(&lib_config),
            ],
        );
        assert_eq!(with_shell.code, Some(0), "{who}: {}", with_shell.output());
        assert!(with_shell.output().contains("| chain-lib-test-ok"), "{who}");
        // The out dir is unsigned: this build's own out dir, named as a repository, is the
        // user's own output.
        let app = user.melwrap(
            "build",
            &[
                "-r",
                s(&out),
                "--out-dir",
                s(&out),
                s(&user.config("chain-app.yaml")),
            ],
        );
        let all = app.output();
        assert_eq!(app.code, Some(0), "{who}: {all}");
        assert!(
            all.contains("| chain-app got from-chain-lib"),
            "{who}: {all}"
        );
        let word = out
            .join(crate::repo::fixture::ARCH)
            .join("chain-app-1.0.0-r0.apk");
        assert!(word.is_file(), "{who}");
    }
}
