//! The crate's tar library. It knows nothing about projects, workdirs, products or staging: what
//! goes into a tar, and what may come out of one, is decided by the caller.
//!
//! - [`write`](mod@write): entries planned from a sorted walk that never follows symlinks, and the
//!   deterministic builder (fixed owner and mtime, modes reduced to 0644/0755, links stored as
//!   links): the same tree always gives the same bytes.
//! - [`stream`]: the bridges between blocking tar code and async byte streams, through bounded
//!   channels, so memory stays at a few chunks whatever the size of the tree.
//! - [`extract`]: the defensive unpacker that every tar we did not write goes through.
//!
//! Inside this module the `tar` crate is always named `::tar`.

pub mod extract;
pub mod stream;
pub mod write;
