//! The documentation holds together: every relative link in README.md, SECURITY.md, docs/*.md
//! and pipelines/README.md names a file that exists, and every `#anchor` names a heading of the
//! file it points into (GitHub's heading ids). The README was split into docs/; a moved section
//! must not leave a dead link behind. The quickstart's two commands stay what CI runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, SECURITY.md, pipelines/README.md and every Markdown file under docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = ["README.md", "SECURITY.md", "pipelines/README.md"]
        .into_iter()
        .map(|f| root().join(f))
        .filter(|p| p.is_file())
        .collect();
    let dir = root().join("docs");
    if dir.is_dir() {
        docs.extend(
            crate::support::walk(&dir)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "md")),
        );
    }
    docs
}

/// The lines of `text` outside fenced code blocks, numbered from 1.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => lines.push((i + 1, line)),
            _ => {}
        }
    }
    lines
}

/// GitHub's id for a heading: lower case, punctuation dropped (but `-` and `_`), spaces to
/// `-`; a repeated id gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = line[hashes..].trim();
        let mut slug = String::new();
        for c in title.chars() {
            if c == ' ' {
                slug.push('-');
            } else if c.is_alphanumeric() || c == '-' || c == '_' {
                slug.extend(c.to_lowercase());
            }
        }
        let mut id = slug.clone();
        let mut n = 1;
        while seen.contains(&id) {
            id = format!("{slug}-{n}");
            n += 1;
        }
        seen.insert(id);
    }
    seen
}

/// `line` with inline code spans removed (a link inside backticks is text, not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in line.chars() {
        if c == '`' {
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links `[text](target)` on `line`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
        rest = &after[end..];
    }
    targets
}

/// What is wrong with one link of `doc`, if anything.
fn check_link(doc: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = match path {
        "" => doc.to_path_buf(),
        p => doc.parent().unwrap().join(p),
    };
    if !file.exists() {
        return Some(format!("{}: no such file", file.display()));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|e| e != "md") {
        return Some(format!("#{anchor} points into a file that is not Markdown"));
    }
    let text = fs_err::read_to_string(&file).unwrap();
    match anchors(&text).contains(anchor) {
        true => None,
        false => Some(format!("no heading #{anchor} in {}", file.display())),
    }
}

/// Every broken link of `doc`, as `file:line: target: why`.
fn broken_links(doc: &Path) -> Vec<String> {
    let text = fs_err::read_to_string(doc).unwrap();
    let mut broken = Vec::new();
    for (n, line) in prose_lines(&text) {
        for target in link_targets(line) {
            if let Some(why) = check_link(doc, &target) {
                broken.push(format!("{}:{n}: ({target}): {why}", doc.display()));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let docs = documents();
    assert!(docs.len() > 2, "no docs/*.md found: {docs:?}");
    let broken: Vec<String> = docs.iter().flat_map(|d| broken_links(d)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_every_reference_page() {
    let readme = fs_err::read_to_string(root().join("README.md")).unwrap();
    for page in [
        "usage",
        "sandbox",
        "cache",
        "environments",
        "packages",
        "differences",
        "development",
    ] {
        let link = format!("](docs/{page}.md");
        assert!(
            readme.contains(&link),
            "README.md does not link docs/{page}.md"
        );
        assert!(root().join(format!("docs/{page}.md")).is_file(), "{page}");
    }
}

#[test]
fn the_checker_finds_a_broken_file_an_anchor_and_a_good_link() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("a.md");
    let text = "# Top\n\n## `melwrap build` flags: the rest\n\n## Top\n\n\
                ```sh\n# not a heading\n[x](gone.md)\n```\n\n\
                [ok](#melwrap-build-flags-the-rest) [ok](#top-1) [ok](a.md#top)\n\
                [bad](#not-a-heading) [bad](missing.md) `[code](missing.md)`\n\
                [web](https://example.org/#x)\n";
    fs_err::write(&doc, text).unwrap();
    let broken = broken_links(&doc);
    assert_eq!(broken.len(), 2, "{broken:#?}");
    assert!(
        broken[0].contains("(#not-a-heading): no heading"),
        "{broken:?}"
    );
    assert!(broken[1].contains("(missing.md)") && broken[1].contains("no such file"));
    assert!(broken[0].contains("a.md:13:"), "{broken:?}");
}

#[test]
fn the_quickstart_commands_are_the_ones_ci_and_make_run() {
    let readme = fs_err::read_to_string(root().join("README.md")).unwrap();
    let quickstart = readme
        .split("## Quickstart")
        .nth(1)
        .expect("README.md has a Quickstart section");
    for command in ["make run ", "make test "] {
        assert!(quickstart.contains(command), "quickstart lacks `{command}`");
    }
    let ci = fs_err::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "make test"),
        ".ci/run does not run `make test`:\n{ci}"
    );
    let makefile = fs_err::read_to_string(root().join("Makefile")).unwrap();
    for target in ["run:", "test:"] {
        assert!(
            makefile.lines().any(|l| l.starts_with(target)),
            "Makefile has no `{target}` target"
        );
    }
}
