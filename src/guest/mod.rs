//! The guest: every path a step sees that melwrap decides, and the layering of the step
//! environment ([`env`](mod@env)), each defined once. The compiler (`${{targets.destdir}}`, working
//! directories), the sandbox (its mounts), the workspace, the cache and `melwrap test` all
//! take them from here.

pub mod accounts;
pub mod env;

/// A guest path as a literal: the workspace or the cache itself, or a path below one of them
/// (a macro, so that derived paths are constants too).
macro_rules! concat_guest {
    (workspace) => {
        "/home/build"
    };
    (cache) => {
        "/var/cache/melange"
    };
    ($base:ident $rel:literal) => {
        concat!(concat_guest!($base), "/", $rel)
    };
}
pub(crate) use concat_guest;

/// Where the workspace is mounted in the guest: the build user's home, `HOME` and the
/// default working directory (`${{package.srcdir}}`).
pub const WORKSPACE: &str = concat_guest!(workspace);

/// Where the cache dir is mounted in the guest.
pub const CACHE: &str = concat_guest!(cache);

/// The workspace directory that holds every package's destdir, relative to [`WORKSPACE`].
pub const OUT_DIR_NAME: &str = "melange-out";

/// The build user's home directory, and the default `HOME`.
pub const HOME: &str = WORKSPACE;

/// `/home/build/melange-out`, the parent of every destdir (`${{targets.outdir}}`).
pub const OUT_DIR: &str = concat_guest!(workspace "melange-out");

/// `/home/build/melange-out/<package>` (`${{targets.destdir}}`).
pub fn destdir(package: &str) -> String {
    format!("{OUT_DIR}/{package}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_paths_agree_with_their_bases() {
        assert_eq!(OUT_DIR, format!("{WORKSPACE}/{OUT_DIR_NAME}"));
        assert_eq!(destdir("p"), format!("{WORKSPACE}/{OUT_DIR_NAME}/p"));
        assert_eq!(concat_guest!(cache "go"), format!("{CACHE}/go"));
        assert_eq!(HOME, WORKSPACE);
    }
}
