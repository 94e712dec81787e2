//! Dependency scanning reads files a step wrote: crafted ELF files (truncated, huge counts and
//! sizes, names that would break `.PKGINFO`), a shebang of megabytes, a FIFO where a script
//! would be, and links (a `.pc` file to `/etc/shadow`, an `ld.so.conf.d` file and a library to
//! host files) must neither be followed nor cost more than a bounded read; the build packages
//! them as they are. Each scenario runs as root and as uid 65534.

use std::os::unix::fs::PermissionsExt;

use crate::build::common::*;
use crate::build::sca::{all, arch_dir, pkginfo};

/// Write `src/<name>` with `bytes`, readable by every uid.
fn write_bytes(t: &TestEnv, name: &str, bytes: &[u8]) {
    let path = t.src().join(name);
    let dir = path.parent().unwrap();
    fs_err::create_dir_all(dir).unwrap();
    crate::support::open_up(dir);
    fs_err::write(&path, bytes).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A 64-bit little-endian ELF header.
fn header(phoff: u64, phnum: u16, shoff: u64, shnum: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    h[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[32..40].copy_from_slice(&phoff.to_le_bytes());
    h[40..48].copy_from_slice(&shoff.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h[54..56].copy_from_slice(&56u16.to_le_bytes());
    h[56..58].copy_from_slice(&phnum.to_le_bytes());
    h[58..60].copy_from_slice(&64u16.to_le_bytes());
    h[60..62].copy_from_slice(&shnum.to_le_bytes());
    h
}

/// A 64-bit section header.
fn section(kind: u32, offset: u64, size: u64, link: u32) -> Vec<u8> {
    let mut s = vec![0u8; 64];
    s[4..8].copy_from_slice(&kind.to_le_bytes());
    s[24..32].copy_from_slice(&offset.to_le_bytes());
    s[32..40].copy_from_slice(&size.to_le_bytes());
    s[40..44].copy_from_slice(&link.to_le_bytes());
    s
}

/// A dynamic section: DT_NEEDED `libok.so.1`, DT_SONAME with a line break in it, DT_NULL.
fn crafted_with_names() -> Vec<u8> {
    let strtab = b"\0libok.so.1\0lib\nevil.so.1\0";
    let dynamic_at = 64 + 3 * 64;
    let mut dynamic = Vec::new();
    for (tag, val) in [(1u64, 1u64), (14, 12), (0, 0)] {
        dynamic.extend_from_slice(&tag.to_le_bytes());
        dynamic.extend_from_slice(&val.to_le_bytes());
    }
    let strtab_at = dynamic_at + dynamic.len();
    let mut f = header(0, 0, 64, 3);
    // The string table also names the sections (e_shstrndx).
    f[62..64].copy_from_slice(&2u16.to_le_bytes());
    f.extend(section(0, 0, 0, 0));
    f.extend(section(6, dynamic_at as u64, dynamic.len() as u64, 2));
    f.extend(section(3, strtab_at as u64, strtab.len() as u64, 0));
    f.extend(dynamic);
    f.extend_from_slice(strtab);
    f
}

#[test]
fn crafted_elf_files_are_read_within_bounds_and_their_bad_names_dropped() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        write_bytes(&t, "crafted/libtrunc.so.1", &header(0, 0, 0, 0)[..20]);
        let mut counts = header(64, 0xffff, 64, 0xffff);
        counts.resize(256, 0);
        write_bytes(&t, "crafted/libcounts.so.1", &counts);
        // An interpreter segment and a dynamic section each claiming a terabyte.
        let mut sizes = header(192, 1, 64, 2);
        sizes.extend(section(0, 0, 0, 0));
        sizes.extend(section(6, 0, 1 << 40, 0));
        let mut interp = vec![0u8; 56];
        interp[..4].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        interp[32..40].copy_from_slice(&(1u64 << 40).to_le_bytes()); // p_filesz
        sizes.extend(interp);
        write_bytes(&t, "crafted/libsizes.so.1", &sizes);
        write_bytes(&t, "crafted/libnames.so.1", &crafted_with_names());
        t.config(
            "pipeline:\n  - runs: |\n      mkdir -p ${{targets.destdir}}/usr/lib\n      \
             cp crafted/* ${{targets.destdir}}/usr/lib/\n",
        );
        t.build(who, &["--rootfs", "host"]).ok();
        let apk = arch_dir(&t.out()).join("test-pkg-1.0.0-r0.apk");
        let info = pkginfo(&apk);
        // The one well-formed name is read; the SONAME with a line break is not written.
        assert_eq!(all(&info, "depend"), ["so:libok.so.1"], "{who:?}");
        assert!(all(&info, "provides").is_empty(), "{who:?}: {info:?}");
        assert!(
            !info.iter().any(|(_, v)| v.contains("evil")),
            "{who:?}: {info:?}"
        );
    }
}

#[test]
fn a_megabyte_shebang_and_a_fifo_cost_a_bounded_read() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config(
            "pipeline:\n  - runs: |\n      D=${{targets.destdir}}\n      mkdir -p $D/usr/bin\n      \
             { printf '#!/'; head -c 4000000 /dev/zero | tr '\\0' a; printf '\\n'; } > $D/usr/bin/big\n      \
             mkfifo $D/usr/bin/pipe\n      chmod 755 $D/usr/bin/big\n",
        );
        t.build(who, &["--rootfs", "host"]).ok();
        let info = pkginfo(&arch_dir(&t.out()).join("test-pkg-1.0.0-r0.apk"));
        // melange reads 80 bytes: `#!/` and 77 more.
        let want = format!("cmd:{}", "a".repeat(77));
        assert_eq!(all(&info, "depend"), [want], "{who:?}");
        assert_eq!(all(&info, "provides"), ["cmd:big=1.0.0-r0"], "{who:?}");
    }
}

#[test]
fn links_to_host_files_are_not_followed() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        // A host file any uid may read, which would add a dependency if it were followed.
        let marker = format!("host-secret-{}", std::process::id());
        let bait = t.root().join("bait.pc");
        fs_err::write(
            &bait,
            format!("Name: bait\nVersion: 1\nRequires: {marker}\n/usr/{marker}\n"),
        )
        .unwrap();
        fs_err::set_permissions(&bait, std::fs::Permissions::from_mode(0o644)).unwrap();
        t.config(&format!(
            "pipeline:\n  - runs: |\n      D=${{{{targets.destdir}}}}\n      \
             mkdir -p $D/usr/lib/pkgconfig $D/usr/{marker} $D/etc/ld.so.conf.d\n      \
             ln -s /etc/shadow $D/usr/lib/pkgconfig/shadow.pc\n      \
             ln -s {bait} $D/usr/lib/pkgconfig/bait.pc\n      \
             ln -s {bait} $D/etc/ld.so.conf.d/bait.conf\n      \
             ln -s /lib/x86_64-linux-gnu/libc.so.6 $D/usr/lib/libc.so.6\n      \
             ln -s /usr/lib/x86_64-linux-gnu/libz.so.1 $D/usr/lib/libz.so\n",
            bait = bait.display()
        ));
        let log = t.root().join("deps");
        let log_arg = log.display().to_string();
        t.build(who, &["--rootfs", "host", "--dependency-log", &log_arg])
            .ok();
        let info = pkginfo(&arch_dir(&t.out()).join("test-pkg-1.0.0-r0.apk"));
        assert!(all(&info, "depend").is_empty(), "{who:?}: {info:?}");
        assert!(all(&info, "provides").is_empty(), "{who:?}: {info:?}");
        let arch = arch_dir(&t.out());
        let arch = arch.file_name().unwrap().to_string_lossy();
        let text = fs_err::read_to_string(format!("{}.{arch}", log.display())).unwrap();
        assert!(!text.contains("root:"), "{who:?}: {text}");
        assert!(!text.contains("Requires"), "{who:?}: {text}");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            doc["packages"][0]["findings"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{who:?}: {text}"
        );
    }
}
