//! The sandbox with real bwrap, through the library API.

mod basics;
pub mod support;
