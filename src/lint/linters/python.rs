//! The Python linters: what `usr/lib/python3.*/site-packages/` holds.

use std::collections::BTreeSet;

use super::{Entry, Found, Outcome, Subject};

/// The entries directly in `usr/lib/python3.*/site-packages/`, or a finding when more than one
/// Python version is present (melange's `GetPythonSitePackages` fails the linter then).
fn site_packages<'e>(s: &Subject<'e>) -> Result<Vec<&'e Entry>, Found> {
    let versions: Vec<&str> = s
        .entries
        .iter()
        .filter(|e| {
            e.dir() == "usr/lib" && e.base().starts_with("python3.") // Go's glob `python3.*`
        })
        .map(|e| e.path.as_str())
        .collect();
    match versions.as_slice() {
        [] => Ok(Vec::new()),
        [one] => {
            let dir = format!("{one}/site-packages");
            Ok(s.entries.iter().filter(|e| e.dir() == dir).collect())
        }
        many => Err(Found {
            message: format!(
                "more than one Python version detected: {} found",
                many.len()
            ),
            paths: many.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

fn python_dirs(s: &Subject<'_>, names: [&str; 2], message: &str) -> Outcome {
    match site_packages(s) {
        Err(found) => Ok(Some(found)),
        Ok(entries) => {
            let paths: Vec<String> = entries
                .iter()
                .filter(|e| names.contains(&e.base()))
                .map(|e| e.path.clone())
                .collect();
            Ok((!paths.is_empty()).then(|| Found {
                message: message.to_string(),
                paths,
            }))
        }
    }
}

pub fn python_docs(s: &mut Subject<'_>) -> Outcome {
    python_dirs(
        s,
        ["doc", "docs"],
        "docs directory encountered in Python site-packages directory",
    )
}

pub fn python_test(s: &mut Subject<'_>) -> Outcome {
    python_dirs(
        s,
        ["test", "tests"],
        "tests directory encountered in Python site-packages directory",
    )
}

pub fn python_multiple(s: &mut Subject<'_>) -> Outcome {
    let entries = match site_packages(s) {
        Err(found) => return Ok(Some(found)),
        Ok(entries) => entries,
    };
    let mut packages = BTreeSet::new();
    for e in entries {
        let base = e.base();
        if base.starts_with('_') || ["test", "tests", "doc", "docs"].contains(&base) {
            continue;
        }
        let ext = e.ext();
        if [".egg-info", ".dist-info", ".pth"].contains(&ext) {
            continue;
        }
        let stem = &base[..base.len() - ext.len()];
        if stem.is_empty() {
            continue;
        }
        packages.insert(format!("{stem:?}"));
    }
    if packages.len() <= 1 {
        return Ok(None);
    }
    let list: Vec<String> = packages.into_iter().collect();
    Ok(Some(Found {
        message: format!(
            "multiple Python packages detected: {} found ({})",
            list.len(),
            list.join(", ")
        ),
        paths: Vec::new(),
    }))
}
