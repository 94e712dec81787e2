//! Where a step runs: its working directory inside the guest.

use crate::guest::WORKSPACE as WORKDIR;

/// The working directory a step runs in: relative paths are joined to `/home/build` and
/// cleaned, like Go's `filepath.Join` in `runPipeline`; absolute paths are used as written.
pub fn absolute_workdir(wd: &str) -> String {
    if wd.is_empty() {
        return WORKDIR.to_string();
    }
    if wd.starts_with('/') {
        return wd.to_string();
    }
    let mut parts: Vec<&str> = WORKDIR.split('/').filter(|s| !s.is_empty()).collect();
    for seg in wd.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdirs_join_home_build_never_the_parent() {
        assert_eq!(absolute_workdir(""), crate::guest::WORKSPACE);
        assert_eq!(absolute_workdir("bar"), "/home/build/bar");
        assert_eq!(absolute_workdir("./a//b/"), "/home/build/a/b");
        assert_eq!(absolute_workdir("."), crate::guest::WORKSPACE);
        assert_eq!(absolute_workdir("../x"), "/home/x");
        assert_eq!(absolute_workdir("/tmp/x/"), "/tmp/x/");
    }
}
