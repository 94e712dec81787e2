//! Loading and validating configs: `melwrap validate`, and the shared corpus.

mod corpus;
mod validate;
