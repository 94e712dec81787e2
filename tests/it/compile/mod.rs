//! `melwrap compile`: hand-written fixtures, and every config of the shared corpus.

mod corpus;
mod fixtures;
mod route;
