//! The two commands that run steps, each a short driver over [`crate::session`]: `build`
//! (steps, then packages) and `test` (each package's tests over its installed files).

pub mod build;
pub mod test;
