//! Record sources.

pub mod record_cutter;
