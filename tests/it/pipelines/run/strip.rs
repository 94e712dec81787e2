//! `strip` and `split/debug`: debug info removed from native ELF files, or kept in the debug
//! subpackage.

use super::*;

fn has_debug_info(file: &Path) -> bool {
    let out = Command::new("readelf")
        .arg("-S")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).contains(".debug_info")
}

#[test]
fn strip_removes_debug_info_from_native_elf_files_only() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let bin = b.destdir().join("usr/bin");
        fs_err::create_dir_all(&bin).unwrap();
        fs_err::write(
            b.workspace.join("hello.c"),
            "int main(void) { return 7; }\n",
        )
        .unwrap();
        sh(
            &b.workspace,
            &format!("gcc -g -O0 -o {}/hello hello.c", bin.display()),
        );
        assert!(has_debug_info(&bin.join("hello")));
        fs_err::write(bin.join("script.sh"), "#!/bin/sh\necho hi\n").unwrap();
        // An ELF header for another machine (ARM, 40): strip would choke on it.
        let mut foreign = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
        foreign.resize(16, 0);
        foreign.extend_from_slice(&[2, 0, 40, 0]);
        foreign.resize(64, 0);
        fs_err::write(bin.join("foreign"), &foreign).unwrap();

        let log = b.ok("strip", &[]);
        assert!(!has_debug_info(&bin.join("hello")), "{log}");
        assert!(
            !log.contains("foreign") && !log.contains("script.sh"),
            "{log}"
        );
        let status = Command::new(bin.join("hello")).status().unwrap();
        assert_eq!(status.code(), Some(7));
        assert_eq!(fs_err::read(bin.join("foreign")).unwrap(), foreign);
    }
}

#[test]
fn split_debug_keeps_debug_info_in_the_subpackage() {
    let mut b = Build::new(Shell::Bash);
    let lib = b.destdir().join("usr/lib");
    fs_err::create_dir_all(&lib).unwrap();
    fs_err::write(b.workspace.join("f.c"), "int f(void) { return 1; }\n").unwrap();
    sh(
        &b.workspace,
        &format!("gcc -g -shared -fPIC -o {}/libf.so.1 f.c", lib.display()),
    );
    b.enter_subpackage("hello-dbg");
    b.ok("split/debug", &[]);
    let dbg = b.contextdir().join("usr/lib/debug/usr/lib/libf.so.1.debug");
    assert!(has_debug_info(&dbg));
    assert!(!has_debug_info(&lib.join("libf.so.1")));
    assert!(!b.destdir().join(".dbg-tmp").exists());
}
