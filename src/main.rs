//! The `melwrap` binary: parse arguments, run, map the outcome to an exit code.

fn main() {
    std::process::exit(melwrap::cli::main());
}
