//! Wolfi's own command lines (wolfi-dev/os `Makefile`: `MELANGE_OPTS` for `make package/X`,
//! `MELANGE_TEST_OPTS` for `make test/X`) run unchanged against a small config, end to end:
//! a signing key made by `keygen`, a local repository (`./packages`, Wolfi's `REPO`) holding a
//! `busybox` package the guest is assembled from, two env files, a pipeline dir, the cache dir
//! also given as the apk cache dir. Then the flags of melange's that melwrap takes on its own
//! terms (`--runner`, `--cleanup`, `--create-build-log`, `--vars-file`, `--empty-workspace`,
//! `--log-level`, `--generate-provenance`) one by one.

mod flags;
mod makefile;
