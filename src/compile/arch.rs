//! Architecture names: apk (`x86_64`), OCI/Go (`amd64`) and the GNU and Rust triplets, as apko
//! v1.2.37 defines them (`apko:pkg/build/types/types.go`: `ParseArchitecture`, `ToAPK`,
//! `ToTriplet`, `ToRustTriplet`).

/// One supported architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// apk name: `${{build.arch}}`.
    pub apk: &'static str,
    /// OCI/Go name: `${{build.goarch}}`.
    pub oci: &'static str,
    gnu_cpu: &'static str,
    gnu_vendor: &'static str,
    rust_cpu: &'static str,
    /// `eabihf` suffix after the libc flavour (32-bit ARM).
    eabihf: bool,
}

const fn arch(
    apk: &'static str,
    oci: &'static str,
    gnu_cpu: &'static str,
    gnu_vendor: &'static str,
    rust_cpu: &'static str,
    eabihf: bool,
) -> Arch {
    Arch {
        apk,
        oci,
        gnu_cpu,
        gnu_vendor,
        rust_cpu,
        eabihf,
    }
}

/// apko's `AllArchs`, in its order.
pub const ALL: &[Arch] = &[
    arch("x86", "386", "i486", "pc", "i686", false),
    arch("x86_64", "amd64", "x86_64", "pc", "x86_64", false),
    arch("aarch64", "arm64", "aarch64", "unknown", "aarch64", false),
    arch("armhf", "arm/v6", "arm", "unknown", "armv6", true),
    arch("armv7", "arm/v7", "armv7l", "unknown", "armv7", true),
    arch(
        "loongarch64",
        "loong64",
        "loong64",
        "unknown",
        "loong64",
        false,
    ),
    arch(
        "ppc64le",
        "ppc64le",
        "powerpc64le",
        "unknown",
        "powerpc64le",
        false,
    ),
    arch("riscv64", "riscv64", "riscv64", "unknown", "riscv64", false),
    arch("s390x", "s390x", "s390x", "ibm", "s390x", false),
];

impl Arch {
    /// Parse an apk or OCI name (`x86_64`, `amd64`, `aarch64`, `arm64`, `armhf`, `arm/v7`, ...).
    /// Unlike apko, an unknown name is refused instead of passed through.
    pub fn parse(name: &str) -> Option<Arch> {
        ALL.iter().find(|a| a.apk == name || a.oci == name).copied()
    }

    /// The architecture melwrap itself runs on.
    pub fn host() -> Option<Arch> {
        let rust = std::env::consts::ARCH;
        let apk = match rust {
            "x86" => "x86",
            "arm" => "armv7",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loongarch64",
            other => other,
        };
        Arch::parse(apk)
    }

    /// GNU triplet with the given libc flavour (`gnu`, `musl`): `x86_64-pc-linux-gnu`.
    pub fn gnu_triplet(&self, libc: &str) -> String {
        let eabi = if self.eabihf { "eabihf" } else { "" };
        format!("{}-{}-linux-{libc}{eabi}", self.gnu_cpu, self.gnu_vendor)
    }

    /// Rust triplet with the given libc flavour: `x86_64-unknown-linux-gnu`.
    pub fn rust_triplet(&self, libc: &str) -> String {
        let eabi = if self.eabihf { "eabihf" } else { "" };
        format!("{}-unknown-linux-{libc}{eabi}", self.rust_cpu)
    }
}

/// Every accepted spelling, for error messages.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = ALL.iter().map(|a| a.apk).collect();
    for a in ALL {
        if !v.contains(&a.oci) {
            v.push(a.oci);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apk_and_oci_names_map_both_ways() {
        let a = Arch::parse("amd64").unwrap();
        assert_eq!((a.apk, a.oci), ("x86_64", "amd64"));
        assert_eq!(Arch::parse("aarch64").unwrap().oci, "arm64");
        assert_eq!(Arch::parse("armhf").unwrap().oci, "arm/v6");
        assert_eq!(Arch::parse("loong64").unwrap().apk, "loongarch64");
        assert!(Arch::parse("mips").is_none());
        assert!(Arch::host().is_some());
    }

    #[test]
    fn triplets_match_apko() {
        let t = |n: &str| {
            let a = Arch::parse(n).unwrap();
            (a.gnu_triplet("gnu"), a.rust_triplet("musl"))
        };
        assert_eq!(
            t("x86_64"),
            (
                "x86_64-pc-linux-gnu".into(),
                "x86_64-unknown-linux-musl".into()
            )
        );
        assert_eq!(
            t("aarch64"),
            (
                "aarch64-unknown-linux-gnu".into(),
                "aarch64-unknown-linux-musl".into()
            )
        );
        assert_eq!(
            t("x86"),
            ("i486-pc-linux-gnu".into(), "i686-unknown-linux-musl".into())
        );
        assert_eq!(
            t("armv7"),
            (
                "armv7l-unknown-linux-gnueabihf".into(),
                "armv7-unknown-linux-musleabihf".into()
            )
        );
        assert_eq!(
            t("armhf"),
            (
                "arm-unknown-linux-gnueabihf".into(),
                "armv6-unknown-linux-musleabihf".into()
            )
        );
        assert_eq!(t("s390x").0, "s390x-ibm-linux-gnu");
        assert_eq!(t("ppc64le").1, "powerpc64le-unknown-linux-musl");
        assert_eq!(t("riscv64").0, "riscv64-unknown-linux-gnu");
        assert_eq!(t("loongarch64").0, "loong64-unknown-linux-gnu");
    }
}
