//! The SBOM in each package: valid SPDX 2.3 (checked against the official schema, vendored in
//! `testdata/sbom/spdx-2.3-schema.json`), naming the package, its license, its sources and the
//! provenance flags; byte-identical across builds. `.PKGINFO` provenance is read by the Python
//! reader, not melwrap's.

use serde_json::Value;
use sha2::Digest;

use super::*;
use crate::support::http::HttpServer;

pub(super) fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sbom/spdx-2.3-schema.json");
    serde_json::from_slice(&fs_err::read(path).unwrap()).unwrap()
}

/// A validator for exactly the JSON Schema keywords the SPDX 2.3 schema uses (`type`,
/// `properties`, `required`, `additionalProperties`, `items`, `enum`, `minItems`; the rest are
/// annotations). Returns every violation with its JSON path.
pub(super) fn violations(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(kind) = schema["type"].as_str() {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            other => panic!("schema type {other} not handled"),
        };
        if !ok {
            out.push(format!("{at}: not a {kind}: {value}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(obj) = value.as_object() {
        for req in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(req.as_str().unwrap()) {
                out.push(format!("{at}: missing required {req}"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => violations(sub, v, &format!("{at}.{k}"), out),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    out.push(format!("{at}: property {k} is not allowed"))
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            out.push(format!("{at}: fewer than {min} items"));
        }
        if schema["items"].is_object() {
            for (i, item) in items.iter().enumerate() {
                violations(&schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
    }
}

#[test]
fn the_schema_checker_catches_what_the_schema_forbids() {
    let schema = schema();
    let mut out = Vec::new();
    let bad = serde_json::json!({
        "SPDXID": "SPDXRef-DOCUMENT", "name": "x", "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "creationInfo": {"created": "2023-11-14T22:13:20Z", "creators": []},
        "packages": [{"SPDXID": "p", "name": "p", "downloadLocation": "NOASSERTION",
                      "primaryPackagePurpose": "OPERATING-SYSTEM", "colour": "red"}],
    });
    violations(&schema, &bad, "$", &mut out);
    let text = out.join("\n");
    assert!(text.contains("creators: fewer than 1"), "{text}");
    assert!(text.contains("OPERATING-SYSTEM"), "{text}");
    assert!(text.contains("colour is not allowed"), "{text}");
}

/// Every relationship and `documentDescribes` names a package of the document.
fn check_references(doc: &Value) {
    let ids: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    for r in doc["relationships"].as_array().unwrap() {
        for side in ["spdxElementId", "relatedSpdxElement"] {
            assert!(ids.contains(&r[side].as_str().unwrap()), "{r}");
        }
    }
    for d in doc["documentDescribes"].as_array().unwrap() {
        assert!(ids.contains(&d.as_str().unwrap()), "{d}");
    }
}

/// Validates `bytes` with Python's `jsonschema` too, when it is installed (an independent
/// implementation of the full JSON Schema language).
fn python_validates(bytes: &[u8]) -> Option<bool> {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.json");
    fs_err::write(&doc, bytes).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sbom/spdx-2.3-schema.json");
    let program = "import json, sys\ntry:\n    import jsonschema\nexcept ImportError:\n    sys.exit(3)\njsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))\n";
    let status = std::process::Command::new("python3")
        .args(["-c", program])
        .arg(&schema)
        .arg(&doc)
        .status()
        .ok()?;
    match status.code() {
        Some(3) => {
            eprintln!(
                "python3 has no jsonschema module: the schema is checked by the test's own checker only"
            );
            None
        }
        Some(0) => Some(true),
        _ => Some(false),
    }
}

/// A `.tar.gz` served by the loopback server and fetched by the build.
fn source_tarball(t: &TestEnv) -> Vec<u8> {
    let dir = t.root().join("tarball");
    fs_err::create_dir_all(dir.join("src-1.0")).unwrap();
    fs_err::write(dir.join("src-1.0/a.txt"), "a\n").unwrap();
    let ok = std::process::Command::new("tar")
        .args(["-czf", "src.tar.gz", "src-1.0"])
        .current_dir(&dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    fs_err::read(dir.join("src.tar.gz")).unwrap()
}

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn sboms_are_valid_spdx_name_sources_and_provenance_and_repeat_byte_for_byte() {
    require_bwrap!();
    let t = TestEnv::new();
    let body = source_tarball(&t);
    let sha = hex::encode(sha2::Sha256::digest(&body));
    let server = HttpServer::one("src.tar.gz", body);
    let url = server.url("src.tar.gz");
    t.config(&format!(
        "pipeline:
  - uses: fetch
    with:
      uri: {url}
      expected-sha256: {sha}
      retry-limit: 1
  - runs: |
      mkdir -p ${{{{targets.destdir}}}}/usr/share/src
      cp a.txt ${{{{targets.destdir}}}}/usr/share/src/
subpackages:
  - name: test-pkg-extra
    pipeline:
      - runs: |
          mkdir -p ${{{{targets.contextdir}}}}/usr/share/extra
          echo x > ${{{{targets.contextdir}}}}/usr/share/extra/f
"
    ));
    // The build file's directory is a git checkout whose HEAD melwrap must find.
    let git = t.src().join(".git");
    fs_err::create_dir_all(git.join("refs/heads")).unwrap();
    fs_err::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    fs_err::write(git.join("refs/heads/main"), format!("{HEAD}\n")).unwrap();
    crate::support::open_up(&git);
    crate::support::open_up(&git.join("refs"));
    crate::support::open_up(&git.join("refs/heads"));

    let flags = [
        "--namespace",
        "wolfi",
        "--git-repo-url",
        "https://github.com/example/packages",
        "--license",
        "Apache-2.0",
    ];
    build(&t, &flags).ok();
    let apk = apk_path(&t.out(), "test-pkg-1.0.0-r0.apk");
    let (pkginfo, files) = read_package(&apk);
    let fields = crate::apk::support::pkginfo_fields(&pkginfo);
    let field = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("commit"), HEAD, "{pkginfo}");
    assert_eq!(field("maintainer"), "wolfi", "{pkginfo}");
    assert_eq!(field("origin"), "test-pkg", "{pkginfo}");

    let sbom_name = "var/lib/db/sbom/test-pkg-1.0.0-r0.spdx.json";
    let bytes = files
        .get(sbom_name)
        .unwrap_or_else(|| panic!("no {sbom_name} in {:?}", files.keys()));
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    let mut problems = Vec::new();
    violations(&schema(), &doc, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    check_references(&doc);
    assert_ne!(
        python_validates(bytes),
        Some(false),
        "python jsonschema refused it"
    );

    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let creators = doc["creationInfo"]["creators"].to_string();
    assert!(creators.contains("Tool: melwrap-"), "{creators}");
    let packages = doc["packages"].as_array().unwrap();
    let by_purpose = |p: &str| -> Vec<&Value> {
        packages
            .iter()
            .filter(|x| x["primaryPackagePurpose"] == p)
            .collect()
    };
    let app = by_purpose("APPLICATION");
    assert_eq!(app.len(), 1);
    assert_eq!(app[0]["name"], "test-pkg");
    assert_eq!(app[0]["versionInfo"], "1.0.0-r0");
    assert_eq!(app[0]["licenseDeclared"], "MIT");
    assert_eq!(
        app[0]["externalRefs"][0]["referenceLocator"],
        "pkg:apk/wolfi/test-pkg@1.0.0-r0?arch=x86_64&distro=wolfi"
            .replace("x86_64", &field("arch"))
    );
    let config = by_purpose("INSTALL");
    assert_eq!(config[0]["name"], "melange.yaml");
    assert_eq!(config[0]["versionInfo"], HEAD);
    assert_eq!(config[0]["licenseDeclared"], "Apache-2.0");
    assert_eq!(
        config[0]["externalRefs"][0]["referenceLocator"],
        format!("pkg:github/example/packages@{HEAD}#melange.yaml")
    );
    let sources = by_purpose("SOURCE");
    assert_eq!(sources.len(), 1, "{packages:#?}");
    assert_eq!(sources[0]["downloadLocation"], url.as_str());
    assert_eq!(sources[0]["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(sources[0]["checksums"][0]["checksumValue"], sha.as_str());
    assert_eq!(sources[0]["name"], "test-pkg");
    let relations: Vec<String> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["relationshipType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(relations, ["DESCRIBED_BY", "GENERATED_FROM"]);

    // The subpackage has its own SBOM, naming the main package's source too.
    let sub = apk_path(&t.out(), "test-pkg-extra-1.0.0-r0.apk");
    let (_, sub_files) = read_package(&sub);
    let sub_bytes = &sub_files["var/lib/db/sbom/test-pkg-extra-1.0.0-r0.spdx.json"];
    let sub_doc: Value = serde_json::from_slice(sub_bytes).unwrap();
    let mut problems = Vec::new();
    violations(&schema(), &sub_doc, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(sub_doc["name"], "apk-test-pkg-extra-1.0.0-r0");
    assert!(sub_doc["packages"].to_string().contains(&sha));

    // A second build into another output directory: the same bytes.
    let again = build_into(&t, "out2", &flags);
    again.ok();
    let (_, files2) = read_package(&apk_path(&t.root().join("out2"), "test-pkg-1.0.0-r0.apk"));
    assert_eq!(files2[sbom_name], *bytes, "the SBOM changed between builds");
}

#[test]
fn explicit_commit_wins_and_defaults_are_melanges() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr/share/x && echo x > ${{targets.destdir}}/usr/share/x/f\n");
    let commit = "fedcba9876543210fedcba9876543210fedcba98";
    build(&t, &["--git-commit", commit]).ok();
    let (pkginfo, files) = read_package(&apk_path(&t.out(), "test-pkg-1.0.0-r0.apk"));
    let fields = crate::apk::support::pkginfo_fields(&pkginfo);
    assert!(
        fields.contains(&("commit".into(), commit.into())),
        "{pkginfo}"
    );
    assert!(
        fields.contains(&("maintainer".into(), "unknown".into())),
        "{pkginfo}"
    );
    let doc: Value =
        serde_json::from_slice(&files["var/lib/db/sbom/test-pkg-1.0.0-r0.spdx.json"]).unwrap();
    let text = doc.to_string();
    assert!(text.contains("\"Organization: Unknown\""), "{text}");
    assert!(
        text.contains("pkg:apk/unknown/test-pkg@1.0.0-r0?arch="),
        "{text}"
    );
    assert!(!text.contains("distro="), "{text}");
    let install = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "INSTALL")
        .unwrap();
    assert_eq!(install["versionInfo"], commit);
    assert_eq!(install["licenseDeclared"], "NOASSERTION");

    // Outside a git checkout and without the flag: `unknown`, as melange.
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr/share/x && echo x > ${{targets.destdir}}/usr/share/x/f\n");
    build(&t, &[]).ok();
    let (pkginfo, _) = read_package(&apk_path(&t.out(), "test-pkg-1.0.0-r0.apk"));
    assert!(pkginfo.contains("commit = unknown\n"), "{pkginfo}");
}

/// `git` in `dir` with a fixed identity; panics on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn git_checkout_sources_name_the_repository_tag_and_commit() {
    require_bwrap!();
    let t = TestEnv::new();
    let up = t.src().join("up");
    fs_err::create_dir_all(&up).unwrap();
    git(&up, &["init", "-q", "-b", "main"]);
    fs_err::write(up.join("a.txt"), "a\n").unwrap();
    git(&up, &["add", "a.txt"]);
    git(&up, &["commit", "-qm", "one"]);
    git(&up, &["tag", "v1.0"]);
    let commit = git(&up, &["rev-parse", "HEAD"]);
    crate::support::open_up(&up);
    t.config(&format!(
        "pipeline:
  - uses: git-checkout
    with:
      repository: /home/build/up
      tag: v1.0
      expected-commit: {commit}
      destination: checkout
  - runs: |
      mkdir -p ${{{{targets.destdir}}}}/usr/share/up
      cp checkout/a.txt ${{{{targets.destdir}}}}/usr/share/up/
"
    ));
    build(&t, &[]).ok();
    let (_, files) = read_package(&apk_path(&t.out(), "test-pkg-1.0.0-r0.apk"));
    let doc: Value =
        serde_json::from_slice(&files["var/lib/db/sbom/test-pkg-1.0.0-r0.spdx.json"]).unwrap();
    let mut problems = Vec::new();
    violations(&schema(), &doc, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let source = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "SOURCE")
        .expect("a source package");
    assert_eq!(source["name"], "up");
    assert_eq!(source["versionInfo"], "v1.0");
    assert_eq!(
        source["downloadLocation"],
        format!("git+/home/build/up@{commit}")
    );
    assert_eq!(source["licenseDeclared"], "MIT");
    let id = source["SPDXID"].as_str().unwrap();
    assert!(id.contains(&commit), "{id}");
}
