//! Serializes Python values straight into JSON bytes, without building an
//! intermediate tree, so documents cost one pass over the user's dicts.
//!
//! The output matches `json.dumps(value, separators=(",", ":"),
//! ensure_ascii=False)` for the JSON types, except that floats use the
//! shortest round-trip form of Rust's formatter (the same in every
//! language host). NaN and infinities, bytes and arbitrary objects are
//! refused with a `TypeError`/`ValueError` naming the value's type.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Nesting deeper than this is refused instead of overflowing the stack.
const MAX_DEPTH: usize = 128;

/// Appends the JSON form of `value` to `out`.
pub fn write_value(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    write_nested(value, out, 0)
}

/// Appends `value` as a JSON string literal.
pub fn write_str(value: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and a &str is always valid JSON text.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Appends the entries of a dict as `,"key":value` pairs, leaving out the
/// keys in `skip`. Keys are converted as `json.dumps` converts them.
pub fn write_dict_entries(
    dict: &Bound<'_, PyDict>,
    skip: &[&str],
    out: &mut Vec<u8>,
) -> PyResult<()> {
    for (key, value) in dict.iter() {
        let key = key_text(&key)?;
        if skip.contains(&key.as_str()) {
            continue;
        }
        out.push(b',');
        write_str(&key, out);
        out.push(b':');
        write_nested(&value, out, 1)?;
    }
    Ok(())
}

fn write_nested(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "document nests deeper than {MAX_DEPTH} levels"
        )));
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(text) = value.cast::<PyString>() {
        write_str(text.to_str()?, out);
    } else if let Ok(flag) = value.cast::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if let Ok(int) = value.cast::<PyInt>() {
        write_int(int, out)?;
    } else if let Ok(float) = value.cast::<PyFloat>() {
        write_float(float.value(), out)?;
    } else if let Ok(dict) = value.cast::<PyDict>() {
        out.push(b'{');
        let mut first = true;
        for (key, item) in dict.iter() {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(&key_text(&key)?, out);
            out.push(b':');
            write_nested(&item, out, depth + 1)?;
        }
        out.push(b'}');
    } else if let Ok(list) = value.cast::<PyList>() {
        write_sequence(list.iter(), out, depth)?;
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        write_sequence(tuple.iter(), out, depth)?;
    } else if let Some(fields) = value.getattr_opt("__dict__")? {
        // Objects serialize through their attributes, as LetsData's Python
        // bridge did (a nested Document, a dataclass).
        write_nested(&fields, out, depth + 1)?;
    } else if let Some(fields) = slot_attributes(value)? {
        write_nested(fields.as_any(), out, depth + 1)?;
    } else {
        return Err(PyTypeError::new_err(format!(
            "Object of type {} is not JSON serializable",
            value.get_type().name()?
        )));
    }
    Ok(())
}

fn write_sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> PyResult<()> {
    out.push(b'[');
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_nested(&item, out, depth + 1)?;
    }
    out.push(b']');
    Ok(())
}

fn write_int(int: &Bound<'_, PyInt>, out: &mut Vec<u8>) -> PyResult<()> {
    if let Ok(small) = int.extract::<i64>() {
        out.extend_from_slice(small.to_string().as_bytes());
    } else {
        // Beyond 64 bits: Python's own decimal rendering is exact.
        out.extend_from_slice(int.str()?.to_str()?.as_bytes());
    }
    Ok(())
}

fn write_float(value: f64, out: &mut Vec<u8>) -> PyResult<()> {
    match serde_json::Number::from_f64(value) {
        Some(number) => {
            out.extend_from_slice(number.to_string().as_bytes());
            Ok(())
        }
        None => Err(PyValueError::new_err(format!(
            "Out of range float values are not JSON compliant: {value}"
        ))),
    }
}

/// The attributes of an object whose classes declare `__slots__` (the
/// ferry SDK's documents do), as a dict in declaration order; None for
/// objects without slots.
fn slot_attributes<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = value.py();
    let fields = PyDict::new(py);
    let classes = value.get_type().getattr("__mro__")?;
    let classes: Vec<Bound<'py, PyAny>> = classes.try_iter()?.collect::<PyResult<_>>()?;
    // Base classes first, so inherited fields lead as they do in __init__.
    for class in classes.iter().rev() {
        let Some(slots) = class.getattr_opt("__dict__")?.and_then(|dict| dict.get_item("__slots__").ok()) else {
            continue;
        };
        let names: Vec<Bound<'py, PyAny>> = if slots.is_instance_of::<PyString>() {
            vec![slots]
        } else {
            slots.try_iter()?.collect::<PyResult<_>>()?
        };
        for name in names {
            let name = name.cast::<PyString>()?.to_str()?.to_owned();
            if name.starts_with("__") {
                continue;
            }
            if let Some(field) = value.getattr_opt(name.as_str())? {
                fields.set_item(name, field)?;
            }
        }
    }
    Ok(if fields.is_empty() { None } else { Some(fields) })
}

/// Dict keys as `json.dumps` accepts them: strings as they are, numbers,
/// booleans and None converted to their JSON text.
fn key_text(key: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = key.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    if key.is_none() {
        return Ok("null".to_owned());
    }
    if key.is_instance_of::<PyBool>() || key.is_instance_of::<PyInt>() || key.is_instance_of::<PyFloat>() {
        let mut text = Vec::new();
        write_nested(key, &mut text, MAX_DEPTH)?;
        return String::from_utf8(text).map_err(|err| PyValueError::new_err(err.to_string()));
    }
    Err(PyTypeError::new_err(format!(
        "keys must be str, int, float, bool or None, not {}",
        key.get_type().name()?
    )))
}
