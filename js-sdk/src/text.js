/**
 * UTF-8 encoding and decoding without TextEncoder / TextDecoder, which an
 * embedded engine (QuickJS in the bridge) may not provide. Engine-neutral.
 */

/**
 * UTF-8 bytes of `text`. A lone surrogate is encoded as U+FFFD, as
 * TextEncoder does (TextEncoder is not available in every embedded engine).
 */
export function utf8Encode(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) {
      out.push(cp);
    } else if (cp < 0x800) {
      out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    } else {
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    }
  }
  return Uint8Array.from(out);
}

const REPLACEMENT = 0xfffd;
const CHUNK = 8192;

/**
 * Decode UTF-8 `bytes` to a string, as the WHATWG decoder does
 * (`new TextDecoder("utf-8", { ignoreBOM: true })`): a leading byte order mark
 * is kept (as Python's `bytes.decode("utf-8")` keeps it) and each invalid
 * sequence becomes U+FFFD. With `{ fatal: true }` an invalid sequence throws a
 * TypeError instead (like Python's strict decoding).
 */
export function utf8Decode(bytes, options = {}) {
  const fatal = Boolean(options && options.fatal);
  let data;
  if (bytes instanceof Uint8Array) data = bytes;
  else if (ArrayBuffer.isView(bytes)) data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else if (bytes instanceof ArrayBuffer) data = new Uint8Array(bytes);
  else throw new TypeError(`expected a Uint8Array, got ${bytes === null ? "null" : typeof bytes}`);

  const parts = [];
  let units = [];
  const emit = (cp) => {
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= CHUNK) {
      parts.push(String.fromCharCode.apply(null, units));
      units = [];
    }
  };
  const invalid = (at) => {
    if (fatal) throw new TypeError(`invalid UTF-8 at byte ${at}`);
    emit(REPLACEMENT);
  };

  let needed = 0;
  let seen = 0;
  let cp = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (needed === 0) {
      if (byte < 0x80) {
        emit(byte);
      } else if (byte >= 0xc2 && byte <= 0xdf) {
        needed = 1;
        cp = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) lower = 0xa0;
        if (byte === 0xed) upper = 0x9f;
        needed = 2;
        cp = byte & 0x0f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) lower = 0x90;
        if (byte === 0xf4) upper = 0x8f;
        needed = 3;
        cp = byte & 0x07;
      } else {
        invalid(i);
      }
      continue;
    }
    if (byte < lower || byte > upper) {
      needed = seen = cp = 0;
      lower = 0x80;
      upper = 0xbf;
      invalid(i);
      i--; // the byte starts the next sequence
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (byte & 0x3f);
    if (++seen === needed) {
      emit(cp);
      needed = seen = cp = 0;
    }
  }
  if (needed !== 0) invalid(data.length);
  if (units.length) parts.push(String.fromCharCode.apply(null, units));
  return parts.join("");
}
