//! The language hosts behind the `Handler` seam.

#[cfg(feature = "js")]
pub mod js;
#[cfg(feature = "python")]
pub mod python;
pub mod rust;
