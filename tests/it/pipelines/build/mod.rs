//! Built-in pipelines run for real through `melwrap build`: real bwrap, the host's /usr shown
//! read-only, `--no-network`, each on a tiny project from `testdata/pipelines_build/<name>/`,
//! with assertions on the destdir the steps filled and on the `.apk` written from it.
//!
//! A case whose tool the sandbox cannot see is skipped with the reason printed; under
//! `CI=true` a case whose tool `scripts/install-deps.sh` installs fails instead. One module per
//! pipeline family.

mod support;

mod cargo;
mod cmake;
mod git_am;
mod go;
mod meson;
mod perl;
mod python;
