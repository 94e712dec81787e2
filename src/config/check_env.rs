//! What a step's process cannot be given: a NUL byte in a script, an environment value, a
//! `vars` value, a `range:` data item or a `with` input (exec and the environment are C strings, so the text would
//! be cut short or refused at run time), and an environment variable name outside POSIX's
//! `[A-Za-z_][A-Za-z0-9_]*` (shells cannot read it, and `=` in a name corrupts the entry).
//! `validate` reports these so they never reach a sandbox.

use crate::diag::Diagnostic;

use super::load::LoadedConfig;
use super::model::{Pipeline, StringMap};

/// Whether `name` is a POSIX environment variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The hint for a name [`is_env_name`] refuses.
pub const ENV_NAME_HINT: &str =
    "use ASCII letters, digits and `_`, not starting with a digit (POSIX `[A-Za-z_][A-Za-z0-9_]*`)";

const NUL_HINT: &str = "a NUL byte cannot be passed to a process; remove the `\\0` escape";

/// Every NUL and bad environment name of the file.
pub fn check(loaded: &LoadedConfig) -> Vec<Diagnostic> {
    let cfg = &loaded.config;
    let mut c = Checker {
        loaded,
        out: Vec::new(),
    };
    c.environment("environment.environment", &cfg.environment.environment);
    c.values("vars", &cfg.vars);
    for (i, data) in cfg.data.iter().enumerate() {
        c.values(&format!("data[{i}].items"), &data.items);
    }
    c.steps("pipeline", &cfg.pipeline);
    if let Some(test) = &cfg.test {
        c.environment(
            "test.environment.environment",
            &test.environment.environment,
        );
        c.steps("test.pipeline", &test.pipeline);
    }
    for (i, sp) in cfg.subpackages.iter().enumerate() {
        c.steps(&format!("subpackages[{i}].pipeline"), &sp.pipeline);
        if let Some(test) = &sp.test {
            c.environment(
                &format!("subpackages[{i}].test.environment.environment"),
                &test.environment.environment,
            );
            c.steps(&format!("subpackages[{i}].test.pipeline"), &test.pipeline);
        }
    }
    for (name, option) in &cfg.options {
        c.values(&format!("options.{name}.vars"), &option.vars);
    }
    c.out
}

struct Checker<'a> {
    loaded: &'a LoadedConfig,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn nul(&mut self, field: &str, text: &str, what: &str) {
        if text.contains('\0') {
            self.out.push(
                self.loaded
                    .diagnostic(field, format!("{what} contains a NUL byte"))
                    .hint(NUL_HINT),
            );
        }
    }

    fn values(&mut self, base: &str, map: &StringMap) {
        for (k, v) in map {
            self.nul(&format!("{base}.{k}"), v, "the value");
        }
    }

    fn environment(&mut self, base: &str, env: &StringMap) {
        for (k, v) in env {
            let field = format!("{base}.{k}");
            if !is_env_name(k) {
                self.out.push(
                    self.loaded
                        .diagnostic(
                            &field,
                            format!(
                                "`{}` is not a valid environment variable name",
                                k.escape_debug()
                            ),
                        )
                        .hint(ENV_NAME_HINT),
                );
            }
            self.nul(&field, v, "the value");
        }
    }

    fn steps(&mut self, base: &str, steps: &[Pipeline]) {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{base}[{i}]");
            self.nul(&format!("{at}.runs"), &step.runs, "`runs`");
            self.nul(
                &format!("{at}.working-directory"),
                &step.working_directory,
                "`working-directory`",
            );
            self.values(&format!("{at}.with"), &step.with);
            self.environment(&format!("{at}.environment"), &step.environment);
            self.steps(&format!("{at}.pipeline"), &step.pipeline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::decode_only;
    use std::path::Path;

    fn problems(text: &str) -> Vec<String> {
        let loaded = decode_only(Path::new("m.yaml"), text).unwrap();
        check(&loaded).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn posix_names_only() {
        for good in ["A", "_x", "PATH", "a1_B2"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A.B", "A=B", "Ä", "A B"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn nul_bytes_and_bad_names_are_located() {
        let text = "package:\n  name: a\n  version: 1\nenvironment:\n  environment:\n    GOOD: \"x\"\n    BAD-NAME: y\npipeline:\n  - runs: \"echo \\0 hi\"\n  - pipeline:\n      - environment:\n          X: \"a\\0b\"\n        runs: ok\n";
        assert_eq!(
            problems(text),
            [
                "m.yaml:7:5: `environment.environment.BAD-NAME`: `BAD-NAME` is not a valid environment variable name\n  hint: use ASCII letters, digits and `_`, not starting with a digit (POSIX `[A-Za-z_][A-Za-z0-9_]*`)",
                "m.yaml:9:5: `pipeline[0].runs`: `runs` contains a NUL byte\n  hint: a NUL byte cannot be passed to a process; remove the `\\0` escape",
                "m.yaml:12:11: `pipeline[1].pipeline[0].environment.X`: the value contains a NUL byte\n  hint: a NUL byte cannot be passed to a process; remove the `\\0` escape",
            ]
        );
    }
}
