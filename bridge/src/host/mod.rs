//! The language hosts behind the `Handler` seam.

#[cfg(feature = "python")]
pub mod python;
