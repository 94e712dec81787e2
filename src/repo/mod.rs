//! The apk repository client's resolving half: repositories and keys, signed indexes, and
//! resolution that gives apk-tools 2.14's answers.
//!
//! | file | owns |
//! |---|---|
//! | `repository` | [`Repository`] (`@tag` lines), [`Environment`], [`IndexSource`] (where index bytes come from; [`LocalSource`] for directories), [`load_repositories`] |
//! | `apkindex` | splitting an `APKINDEX.tar.gz` into signature, signed bytes and entries |
//! | `verify` | [`Keyring`]: `.SIGN.RSA.*` (SHA-1) and `.SIGN.RSA256.*` (SHA-256) checks |
//! | `version` | apk version comparison and fuzzy matching |
//! | `dep` | [`Dep`]: dependency atoms |
//! | `db` | the interned package database (names, providers, reverse links, tags) |
//! | `solver` | the port of apk-tools' solver |
//! | `resolve` | [`Universe`]: requests in, sorted package set or a chained explanation out |
//!
//! Typical use: [`load_keyring`], [`load_repositories`] with an [`IndexSource`], then
//! [`Universe::new`] once and [`Universe::resolve`] per request list.

pub mod apkindex;
pub mod db;
pub mod dep;
pub mod repository;
pub mod resolve;
pub mod solver;
pub mod verify;
pub mod version;

pub use dep::Dep;
pub use repository::{
    Environment, IndexSource, LoadedRepo, LocalSource, Repository, load_keyring, load_repositories,
};
pub use resolve::{ResolveError, ResolvedPackage, Universe};
pub use verify::{Keyring, VerifyError};
