//! Record sources.

pub mod file;
pub mod record_cutter;
