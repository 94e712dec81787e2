//! The built-in pipeline library: checked as data, run as scripts under bash and ash, and run
//! for real through `melwrap build`.

mod build;
mod library;
mod run;
