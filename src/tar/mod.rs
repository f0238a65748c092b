//! The crate's tar library, which knows nothing about projects, products or staging: what goes
//! into a tar is decided by the caller.
//!
//! - [`write`]: planning entries from a sorted walk and the deterministic builder (sorted entries,
//!   fixed owner and mtime, modes reduced to 0644/0755, symlinks stored as links, never followed).
//! - [`stream`]: the bridges between blocking tar code and async byte streams, through bounded
//!   channels, so memory stays at a few chunks whatever the size of the tree.
//! - [`extract`]: the defensive unpacker every tar we did not write goes through.
//!
//! Inside this module the `tar` crate is always named `::tar`.

pub mod extract;
pub mod stream;
pub mod write;
