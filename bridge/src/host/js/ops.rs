//! The bridge's own ops, for what the web globals (globals.js) need faster
//! than deno_core's ops give it on the QuickJS backend.

use deno_core::{op2, v8};

deno_core::extension!(ferry_bridge_ops, ops = [op_ferry_decode_utf8]);

/// The text of valid UTF-8 bytes without a BOM, made by the engine's own
/// UTF-8 constructor; null for any other bytes, which the caller hands to
/// the full decoder (replacement of invalid sequences, BOM removal).
///
/// deno_core's decoder makes ASCII text through the one-byte string path,
/// which the QuickJS backend widens byte by byte into a fresh UTF-8 copy: for
/// a 1 KB record that cost more than the rest of a simple handler's call.
#[op2]
pub fn op_ferry_decode_utf8<'s>(scope: &mut v8::PinScope<'s, '_>, #[buffer] bytes: &[u8]) -> v8::Local<'s, v8::Value> {
    let decodable = !bytes.starts_with(&[0xef, 0xbb, 0xbf]) && std::str::from_utf8(bytes).is_ok();
    let text = if decodable { v8::String::new_from_utf8(scope, bytes, v8::NewStringType::Normal) } else { None };
    match text {
        Some(text) => text.into(),
        None => v8::null(scope).into(),
    }
}
