//! The parse step: one JSON object into one raw struct, with every unknown
//! field and every wrong JSON type reported under its full path.
//!
//! serde stops at the first problem. So that a user sees all of them at
//! once, unknown keys are found by comparing the object with the fields the
//! struct declares, and a field whose value serde rejects is reported,
//! dropped, and the object parsed again without it. The raw structs are all
//! one level deep (nested sections are kept as JSON and parsed on their
//! own), so a problem always belongs to one top-level key.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use super::issues::{Issues, join, shown};

/// The object at `path`, or `None` after reporting that it is something
/// else.
pub(super) fn object(value: Value, path: &str, issues: &mut Issues) -> Option<Map<String, Value>> {
    match value {
        Value::Object(object) => Some(object),
        other => {
            issues.push(shown(path), format!("expected a JSON object; got {}", describe(&other)));
            None
        }
    }
}

/// The string at `object[key]`, read before the rest of the object because
/// it decides which struct the object is parsed into. `None` when absent or
/// `null`, or after reporting a value that is not a string.
pub(super) fn selector(object: &Map<String, Value>, key: &str, path: &str, issues: &mut Issues) -> Option<String> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            issues.push(join(path, key), format!("expected a string; got {}", describe(other)));
            None
        }
    }
}

/// `object` (found at `path`) as a `T`, after reporting every key `T` does
/// not declare and every value of the wrong type. The keys reported are
/// left out, so `T` holds `None` for them. `None` only when the object as a
/// whole is rejected.
pub(super) fn fields<T: DeserializeOwned>(
    mut object: Map<String, Value>,
    path: &str,
    issues: &mut Issues,
) -> Option<T> {
    let known = field_names::<T>();
    if !known.is_empty() {
        object.retain(|key, _| {
            let is_known = known.contains(&key.as_str());
            if !is_known {
                issues.push(join(path, key), format!("unknown field; expected one of: {}", known.join(", ")));
            }
            is_known
        });
    }
    // Each round drops one key, so this ends within `object.len() + 1` rounds.
    loop {
        let err = match serde_path_to_error::deserialize(Value::Object(object.clone())) {
            Ok(parsed) => return Some(parsed),
            Err(err) => err,
        };
        let key = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        match key {
            Some(key) if object.remove(&key).is_some() => {
                issues.push(join(path, &err.path().to_string()), err.inner().to_string());
            }
            _ => {
                issues.push(shown(path), err.inner().to_string());
                return None;
            }
        }
    }
}

/// "a string", "a number", ...: the JSON type of `value`, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The JSON field names of a struct deriving `Deserialize`, in declaration
/// order: serde's derive passes them to `Deserializer::deserialize_struct`,
/// so a deserializer that only records them and then fails reads them out.
/// Empty for a type that is not such a struct.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The error is the expected outcome: only `names` matters.
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that records the field names of the struct asked for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field names recorded"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Sample {
        batch_size: Option<u64>,
        name: Option<String>,
    }

    fn parse(value: Value) -> (Option<Sample>, Vec<String>) {
        let mut issues = Issues::default();
        let parsed =
            object(value, "section", &mut issues).and_then(|object| fields::<Sample>(object, "section", &mut issues));
        let shown = issues.into_vec().iter().map(ToString::to_string).collect();
        (parsed, shown)
    }

    #[test]
    fn field_names_come_from_the_derive() {
        assert_eq!(field_names::<Sample>(), ["batchSize", "name"]);
        assert!(field_names::<u64>().is_empty());
    }

    #[test]
    fn every_unknown_field_and_wrong_type_is_reported_and_the_rest_kept() {
        let (parsed, issues) = parse(json!({
            "batchSize": "256", "name": "n", "nam": 1, "extra": true
        }));
        assert_eq!(parsed, Some(Sample { batch_size: None, name: Some("n".to_owned()) }));
        assert_eq!(
            issues,
            [
                "section.nam: unknown field; expected one of: batchSize, name",
                "section.extra: unknown field; expected one of: batchSize, name",
                r#"section.batchSize: invalid type: string "256", expected u64"#,
            ]
        );
    }

    #[test]
    fn a_non_object_is_reported_with_its_type() {
        let (parsed, issues) = parse(json!([1]));
        assert_eq!(parsed, None);
        assert_eq!(issues, ["section: expected a JSON object; got an array"]);
    }
}
