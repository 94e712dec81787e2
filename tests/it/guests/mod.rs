//! Builds and tests in guests a config declares (issue 14): melange's end-to-end accounts
//! configs and greeter (rewritten under `testdata/guests/`) build and test in guests made
//! from a local repository holding a `busybox` package built by melwrap and served over
//! loopback HTTP; a chain of configs builds in order through the out dir. As root and as
//! uid 65534.

mod accounts;
mod fixture;
mod greeter_and_chain;
