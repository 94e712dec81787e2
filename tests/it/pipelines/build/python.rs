//! python/build and python/install on a setup.py project, python/build-wheel on a
//! pyproject.toml one, and python/import (as a `test:` pipeline, with the package layered over
//! the guest root) on what each installed. The Python is the guest's: Debian's /usr/bin/python3
//! with --rootfs host, never one the test's own PATH may name.

use super::support::*;

const SETUPTOOLS: &str = "/usr/lib/python3/dist-packages/setuptools/__init__.py";

#[test]
fn python_build_install_and_import_a_setup_py_module() {
    if !bwrap_usable()
        || !require_commands(&["python3"], true)
        || !require_paths(&[SETUPTOOLS], true)
    {
        return;
    }
    let p = Project::new("python-hello");
    p.build(&["--test"])
        .ok()
        .says("\"import pwhello\": PASS")
        .says("1 passed, 0 failed");

    // --prefix=/usr means /usr, where Debian's python3 looks (not /usr/local).
    let site = "usr/lib/python3/dist-packages";
    let files = p.files("python-hello");
    assert!(files.contains(&format!("{site}/pwhello.py")), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(&format!("{site}/pwhello-1.0.0-py3")) && f.ends_with("PKG-INFO")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.starts_with("usr/local")),
        "{files:?}"
    );
    let apk = p.apk_files("python-hello");
    assert_packaged(&apk, &format!("{site}/pwhello.py"), 0o644);

    // Control: python/import fails on a module the package does not have.
    let config = p.src().join("melange.yaml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        text.replace("import: pwhello", "import: pwhello_absent"),
    )
    .unwrap();
    p.test()
        .exit(1)
        .says("\"import pwhello_absent\": FAIL")
        .says("0 passed, 1 failed");
}

#[test]
fn python_build_wheel_installs_the_wheel_offline() {
    // python -m build makes an isolated venv (ensurepip) and pip-installs setuptools and wheel
    // into it; offline they come from Debian's wheels (see the fixture's PIP_FIND_LINKS).
    if !bwrap_usable()
        || !require_commands(&["python3"], true)
        || !require_paths(
            &[
                "/usr/lib/python3/dist-packages/build/__init__.py",
                "/usr/lib/python3/dist-packages/installer/__init__.py",
                "/usr/share/python-wheels",
            ],
            true,
        )
    {
        return;
    }
    let wheels: Vec<String> = fs_err::read_dir("/usr/share/python-wheels")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let ensurepip = fs_err::read_dir("/usr/lib")
        .unwrap()
        .any(|e| e.unwrap().path().join("ensurepip/__init__.py").is_file());
    for (what, present) in [
        ("ensurepip (python3-venv)", ensurepip),
        (
            "setuptools wheel",
            wheels.iter().any(|w| w.starts_with("setuptools-")),
        ),
        (
            "wheel wheel",
            wheels.iter().any(|w| w.starts_with("wheel-")),
        ),
    ] {
        if !present {
            skip(&format!("python/build-wheel offline needs {what}"), true);
            return;
        }
    }

    let p = Project::new("python-wheel");
    p.build(&["--test"])
        .ok()
        .says("Successfully built pwwheel-1.0.0.tar.gz and pwwheel-1.0.0-py3-none-any.whl")
        .says("\"from pwwheel import greet\": PASS");

    let site = "usr/lib/python3/dist-packages";
    let files = p.files("python-wheel");
    for want in [
        format!("{site}/pwwheel/__init__.py"),
        format!("{site}/pwwheel-1.0.0.dist-info/METADATA"),
        format!("{site}/pwwheel-1.0.0.dist-info/RECORD"),
    ] {
        assert!(files.contains(&want), "{want} in {files:?}");
    }
    // The pipeline drops byte-code installer compiled.
    assert!(!files.iter().any(|f| f.ends_with(".pyc")), "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("usr/local")),
        "{files:?}"
    );
    // The wheel itself stays in the workspace.
    assert!(
        p.workspace()
            .join("dist/pwwheel-1.0.0-py3-none-any.whl")
            .is_file()
    );
}
