//! Every size and depth limit melwrap puts on its inputs, in one place, so a hostile build file
//! cannot exhaust memory or the stack before any step runs. Each limit is orders of magnitude
//! above what real configs reach; the maxima measured over the shared corpus (180 configs:
//! Wolfi with its pipelines, melange's examples) are noted beside each one.

/// Largest build file. Corpus maximum: 68 KB (`wolfi/ceph-20.yaml`).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// Largest `uses:` pipeline definition file. Corpus maximum: 13 KB.
pub const MAX_PIPELINE_BYTES: u64 = 1024 * 1024;
/// Largest `--env-file`. Real ones hold a few lines.
pub const MAX_ENV_FILE_BYTES: u64 = 1024 * 1024;
/// Largest PEM key file (a 16384-bit RSA private key is ~13 KB).
pub const MAX_KEY_BYTES: u64 = 64 * 1024;
/// Largest `.melangeignore`.
pub const MAX_IGNORE_FILE_BYTES: u64 = 1024 * 1024;

/// Largest text one substitution may produce (a `runs:` script, a var, an input, a
/// var-transform result). Corpus maximum: 10 KB (a `runs:` script).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most text all substitutions of one compile may produce together. Corpus maximum: 238 KB.
pub const MAX_SUBSTITUTED_BYTES: u64 = 16 * 1024 * 1024;

/// Most steps one compile may produce, `uses:` expansion and steps whose `if:` is false
/// included. Corpus maximum: 357.
pub const MAX_STEPS: usize = 10_000;
/// Most bytes of compiled steps (scripts, environments, names, directories), counted for every
/// compiled step. Corpus maximum: 228 KB.
pub const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest chain of `uses:` definitions calling each other. Corpus maximum: 2.
pub const MAX_USES_DEPTH: usize = 16;
/// Deepest nesting of steps (`pipeline:` inside `pipeline:`, `uses:` levels included).
/// Corpus maximum: 3.
pub const MAX_STEP_DEPTH: usize = 64;
/// Longest chain of `vars` referring to each other. Real files chain two or three.
pub const MAX_VAR_CHAIN: usize = 64;
/// Deepest nesting of `(` and `!` in an `if:` or `${{ }}` expression. No `if:` of the corpus
/// uses parentheses at all.
pub const MAX_EXPRESSION_DEPTH: usize = 64;
/// Most problems reported for one substituted text (the rest are counted).
pub const MAX_ERRORS_PER_TEXT: usize = 16;

/// Dependency scanning (`crate::sca`) reads files a build step wrote: each read is bounded.
/// Most bytes read from one ELF file (headers, dynamic section, the names it uses). A real
/// binary needs a few hundred KB.
pub const MAX_SCA_ELF_READ_BYTES: u64 = 64 * 1024 * 1024;
/// Longest library or interpreter name taken from an ELF file (Linux's `PATH_MAX`).
pub const MAX_SCA_NAME_BYTES: usize = 4096;
/// Most `DT_NEEDED` entries taken from one ELF file. Real programs list a few dozen.
pub const MAX_SCA_NEEDED: usize = 4096;
/// Largest `.pc` or `ld.so.conf.d` file read. Real ones hold a few hundred bytes.
pub const MAX_SCA_TEXT_BYTES: u64 = 1024 * 1024;
/// Most generated dependencies and provides for one package.
pub const MAX_SCA_GENERATED: usize = 100_000;
/// Most symbolic links followed while resolving one path inside a package (the kernel's 40).
pub const MAX_SCA_LINK_HOPS: usize = 40;
