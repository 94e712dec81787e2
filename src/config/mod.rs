//! Reading a melange build file: decode strictly into [`model::Configuration`], locate every
//! field so errors can say `file:line:col`, and run melange's semantic checks.

pub mod check;
pub mod check_accounts;
pub mod check_env;
pub mod decode;
pub mod load;
pub mod locate;
pub mod model;
pub mod rules;
pub mod scalar;

pub use check::check;
pub use load::{LoadedConfig, SpanIndex, load, load_str};
pub use model::Configuration;
