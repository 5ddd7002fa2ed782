//! DynamoDB attribute values and the JSON that handlers and checkpoints
//! hold.
//!
//! Handlers get items, keys and stream images as plain JSON, as LetsData
//! hands them over ([`item_to_json`], [`stream_image_to_json`]):
//!
//! | DynamoDB | JSON |
//! |---|---|
//! | `S` | string |
//! | `N` | number; see below |
//! | `B` | string, the bytes in standard base64 |
//! | `BOOL` | `true` or `false` |
//! | `NULL` | `null` |
//! | `SS`, `NS`, `BS` | array of what each member gives, in the order DynamoDB sent them |
//! | `L` | array |
//! | `M` | object, keys sorted, so the same item always gives the same text |
//!
//! A DynamoDB number holds up to 38 significant digits; a JSON number read
//! by the handler's language is usually an `i64`, `u64` or `f64`. A number
//! that survives that is a JSON number: an integer that fits an `i64` or
//! `u64`, or a number whose nearest `f64` writes back as the same decimal
//! (`0.1`, `1.50` as `1.5`, `1E-130`). Any other (more digits than an
//! `f64` keeps, such as `12345678901234567890123` or
//! `3.14159265358979323846`) is a JSON **string** holding DynamoDB's text
//! unchanged, so that no value is ever silently rounded; the handler can
//! read it with its language's decimal type.
//!
//! The opposite direction, [`json_to_attribute_value`], turns the plain
//! JSON of a scan filter's expression attribute values into attribute
//! values. [`TypedKey`] keeps a scan's `LastEvaluatedKey` in checkpoints:
//! typed JSON (`{"id": {"S": "a"}}`), so it reads back exactly as DynamoDB
//! sent it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::Blob;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A table item (or a key, which is an item's key attributes) as plain
/// JSON: an object mapping each attribute name to its value as the
/// [module documentation](self) says.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    map_to_json(item)
}

/// A DynamoDB Streams image (`Keys`, `OldImage` or `NewImage`) as plain
/// JSON, exactly as [`item_to_json`] gives a table item.
pub fn stream_image_to_json(image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Value {
    map_to_json(image)
}

/// The attribute value a plain JSON value stands for in a filter: a
/// string is `S`, a number `N` (its JSON text), `true`/`false` `BOOL`,
/// `null` `NULL`, an array `L` and an object `M`. Sets cannot be written
/// in plain JSON; a list compares with the functions that take one
/// (`contains`, `size`) as a set does.
pub fn json_to_attribute_value(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(*flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(json_to_attribute_value).collect()),
        Value::Object(entries) => AttributeValue::M(
            entries.iter().map(|(name, value)| (name.clone(), json_to_attribute_value(value))).collect(),
        ),
    }
}

/// One DynamoDB attribute value, as either SDK crate's generated type
/// holds it: `aws_sdk_dynamodb` and `aws_sdk_dynamodbstreams` each have an
/// `AttributeValue` enum with the same variants.
enum Attribute<'a, V> {
    String(&'a str),
    Number(&'a str),
    Binary(&'a [u8]),
    Bool(bool),
    Null,
    StringSet(&'a [String]),
    NumberSet(&'a [String]),
    BinarySet(&'a [Blob]),
    List(&'a [V]),
    Map(&'a HashMap<String, V>),
    /// A type newer than the SDK ferry is built with.
    Unknown,
}

impl<V> Attribute<'_, V> {
    /// DynamoDB's name for the type.
    fn type_name(&self) -> &'static str {
        match self {
            Attribute::String(_) => "S",
            Attribute::Number(_) => "N",
            Attribute::Binary(_) => "B",
            Attribute::Bool(_) => "BOOL",
            Attribute::Null => "NULL",
            Attribute::StringSet(_) => "SS",
            Attribute::NumberSet(_) => "NS",
            Attribute::BinarySet(_) => "BS",
            Attribute::List(_) => "L",
            Attribute::Map(_) => "M",
            Attribute::Unknown => "an unknown type",
        }
    }
}

/// Sees an SDK attribute value as an [`Attribute`].
trait AttributeView: Sized {
    fn view(&self) -> Attribute<'_, Self>;
}

/// Implements [`AttributeView`] for the `AttributeValue` of each SDK crate
/// named: the generated enums share variant names but not a type.
macro_rules! attribute_view {
    ($($attribute_value:ty),+ $(,)?) => {$(
        impl AttributeView for $attribute_value {
            fn view(&self) -> Attribute<'_, Self> {
                match self {
                    Self::S(text) => Attribute::String(text),
                    Self::N(text) => Attribute::Number(text),
                    Self::B(blob) => Attribute::Binary(blob.as_ref()),
                    Self::Bool(flag) => Attribute::Bool(*flag),
                    Self::Null(_) => Attribute::Null,
                    Self::Ss(texts) => Attribute::StringSet(texts),
                    Self::Ns(texts) => Attribute::NumberSet(texts),
                    Self::Bs(blobs) => Attribute::BinarySet(blobs),
                    Self::L(values) => Attribute::List(values),
                    Self::M(entries) => Attribute::Map(entries),
                    _ => Attribute::Unknown,
                }
            }
        }
    )+};
}

attribute_view!(AttributeValue, aws_sdk_dynamodbstreams::types::AttributeValue);

fn map_to_json<V: AttributeView>(entries: &HashMap<String, V>) -> Value {
    let mut names: Vec<&String> = entries.keys().collect();
    names.sort_unstable();
    let object: Map<String, Value> =
        names.into_iter().map(|name| (name.clone(), attribute_to_json(&entries[name]))).collect();
    Value::Object(object)
}

/// A value of a type newer than ferry's SDK is `null`: it cannot be read,
/// and failing the whole item for one attribute would be worse.
fn attribute_to_json<V: AttributeView>(value: &V) -> Value {
    match value.view() {
        Attribute::String(text) => Value::String(text.to_owned()),
        Attribute::Number(text) => number_to_json(text),
        Attribute::Binary(bytes) => Value::String(aws_smithy_types::base64::encode(bytes)),
        Attribute::Bool(flag) => Value::Bool(flag),
        Attribute::Null | Attribute::Unknown => Value::Null,
        Attribute::StringSet(texts) => texts.iter().map(|text| Value::String(text.clone())).collect(),
        Attribute::NumberSet(texts) => texts.iter().map(|text| number_to_json(text)).collect(),
        Attribute::BinarySet(blobs) => {
            blobs.iter().map(|blob| Value::String(aws_smithy_types::base64::encode(blob.as_ref()))).collect()
        }
        Attribute::List(values) => values.iter().map(attribute_to_json).collect(),
        Attribute::Map(entries) => map_to_json(entries),
    }
}

/// A DynamoDB number as a JSON number when it reads back unchanged from an
/// `i64`, `u64` or `f64`, else its text as a JSON string.
fn number_to_json(text: &str) -> Value {
    if let Ok(integer) = text.parse::<i64>() {
        return Value::from(integer);
    }
    if let Ok(integer) = text.parse::<u64>() {
        return Value::from(integer);
    }
    let exact = Decimal::parse(text).and_then(|decimal| {
        let float = text.parse::<f64>().ok().filter(|float| float.is_finite())?;
        // `{:e}` writes the shortest digits that read back as `float`.
        (Decimal::parse(&format!("{float:e}")) == Some(decimal)).then_some(float)
    });
    match exact {
        Some(float) => Value::from(float),
        None => Value::String(text.to_owned()),
    }
}

/// A decimal number's value, in a form where equal values are equal:
/// `digits` without leading or trailing zeros, times ten to `exponent`.
/// Zero has no digits and no sign.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    /// Reads `[+-]digits[.digits][(e|E)[+-]digits]`, with at least one
    /// digit before the exponent; `None` for anything else.
    fn parse(text: &str) -> Option<Self> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (unsigned, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let mut exponent = match exponent {
            Some(exponent) => {
                let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if unsigned.is_empty() || !all_digits(unsigned) {
                    return None;
                }
                exponent.parse::<i64>().ok()?
            }
            None => 0,
        };
        exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
        let joined = format!("{whole}{fraction}");
        let significant = joined.trim_start_matches('0');
        let digits = significant.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Self { negative: false, digits: String::new(), exponent: 0 });
        }
        exponent = exponent.checked_add(i64::try_from(significant.len() - digits.len()).ok()?)?;
        Some(Self { negative, digits: digits.to_owned(), exponent })
    }
}

/// A table key (a scan's `LastEvaluatedKey` or `ExclusiveStartKey`) in
/// DynamoDB's typed JSON, `{"NAME": {"S": "text"}, ...}`, for
/// checkpoints: it serializes and reads back to the very attribute values
/// DynamoDB sent. Binary values are base64 strings in the JSON. It also
/// tells keys apart (`Hash`), e.g. a writer finding documents of one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypedKey(BTreeMap<String, KeyAttribute>);

/// One key attribute: key attributes are strings, numbers or binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum KeyAttribute {
    S(String),
    /// The number's text, unchanged.
    N(String),
    B(#[serde(with = "base64_text")] Vec<u8>),
}

/// A key holds an attribute that is not a string, number or binary: it is
/// not a table key, which DynamoDB never sends as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key attribute {name:?} is of type {type_name}; key attributes are S, N or B")]
pub struct NotAKeyAttribute {
    pub name: String,
    pub type_name: &'static str,
}

impl TypedKey {
    /// The typed form of `key`.
    pub fn from_attribute_values(key: &HashMap<String, AttributeValue>) -> Result<Self, NotAKeyAttribute> {
        let typed = key
            .iter()
            .map(|(name, value)| {
                let attribute = match value.view() {
                    Attribute::String(text) => KeyAttribute::S(text.to_owned()),
                    Attribute::Number(text) => KeyAttribute::N(text.to_owned()),
                    Attribute::Binary(bytes) => KeyAttribute::B(bytes.to_vec()),
                    other => return Err(NotAKeyAttribute { name: name.clone(), type_name: other.type_name() }),
                };
                Ok((name.clone(), attribute))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(typed))
    }

    /// The key as DynamoDB takes it.
    pub fn to_attribute_values(&self) -> HashMap<String, AttributeValue> {
        self.0
            .iter()
            .map(|(name, attribute)| {
                let value = match attribute {
                    KeyAttribute::S(text) => AttributeValue::S(text.clone()),
                    KeyAttribute::N(text) => AttributeValue::N(text.clone()),
                    KeyAttribute::B(bytes) => AttributeValue::B(Blob::new(bytes.clone())),
                };
                (name.clone(), value)
            })
            .collect()
    }
}

/// Bytes as a standard base64 string.
mod base64_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&aws_smithy_types::base64::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        aws_smithy_types::base64::decode(&text).map_err(|err| D::Error::custom(format!("{text:?}: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn item(entries: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        entries.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
    }

    #[test]
    fn every_type_becomes_plain_json_with_sorted_keys() {
        let nested = HashMap::from([
            ("z".to_owned(), AttributeValue::N("1".to_owned())),
            ("a".to_owned(), AttributeValue::L(vec![AttributeValue::Bool(false), AttributeValue::Null(true)])),
        ]);
        let converted = item_to_json(&item(&[
            ("s", AttributeValue::S("text".to_owned())),
            ("n", AttributeValue::N("-12.5".to_owned())),
            ("b", AttributeValue::B(Blob::new(b"\x00\xffbin".to_vec()))),
            ("t", AttributeValue::Bool(true)),
            ("null", AttributeValue::Null(true)),
            ("ss", AttributeValue::Ss(vec!["x".to_owned(), "y".to_owned()])),
            ("ns", AttributeValue::Ns(vec!["3".to_owned(), "0.25".to_owned()])),
            ("bs", AttributeValue::Bs(vec![Blob::new(b"a".to_vec()), Blob::new(b"bc".to_vec())])),
            ("m", AttributeValue::M(nested)),
            ("empty", AttributeValue::M(HashMap::new())),
        ]));
        let expected = json!({
            "b": "AP9iaW4=",
            "bs": ["YQ==", "YmM="],
            "empty": {},
            "m": {"a": [false, null], "z": 1},
            "n": -12.5,
            "ns": [3, 0.25],
            "null": null,
            "s": "text",
            "ss": ["x", "y"],
            "t": true,
        });
        assert_eq!(converted, expected);
        // Sorted keys: the same item always gives the same text.
        assert_eq!(converted.to_string(), expected.to_string());
    }

    #[test]
    fn stream_images_convert_as_table_items_do() {
        let image = HashMap::from([
            ("id".to_owned(), StreamValue::S("a".to_owned())),
            ("count".to_owned(), StreamValue::N("7".to_owned())),
            ("tags".to_owned(), StreamValue::Ss(vec!["red".to_owned()])),
            ("raw".to_owned(), StreamValue::B(Blob::new(b"hi".to_vec()))),
            (
                "deep".to_owned(),
                StreamValue::M(HashMap::from([("l".to_owned(), StreamValue::L(vec![StreamValue::Null(true)]))])),
            ),
        ]);
        assert_eq!(
            stream_image_to_json(&image),
            json!({"count": 7, "deep": {"l": [null]}, "id": "a", "raw": "aGk=", "tags": ["red"]})
        );
        assert_eq!(stream_image_to_json(&HashMap::new()), json!({}));
    }

    #[test]
    fn numbers_stay_numbers_while_exact_and_strings_beyond() {
        let cases: &[(&str, Value)] = &[
            ("0", json!(0)),
            ("-0", json!(0)),
            ("42", json!(42)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("18446744073709551615", json!(u64::MAX)),
            ("0.1", json!(0.1)),
            ("1.50", json!(1.5)),
            ("1E+2", json!(100.0)),
            ("1e22", json!(1e22)),
            ("10000000000000000000000", json!(1e22)),
            ("-2.5e-3", json!(-0.0025)),
            // More digits than an f64 keeps: kept as text.
            ("12345678901234567890123", json!("12345678901234567890123")),
            ("18446744073709551616", json!("18446744073709551616")),
            ("0.1000000000000000000001", json!("0.1000000000000000000001")),
            ("3.14159265358979323846", json!("3.14159265358979323846")),
            ("9.9999999999999999999999999999999999999E+125", json!("9.9999999999999999999999999999999999999E+125")),
            ("1E-130", json!(1e-130)),
            // Not a number at all (a store that does not check): as text.
            ("abc", json!("abc")),
            ("", json!("")),
            ("1e", json!("1e")),
            ("inf", json!("inf")),
            ("NaN", json!("NaN")),
        ];
        for (text, expected) in cases {
            assert_eq!(&number_to_json(text), expected, "{text}");
        }
    }

    #[test]
    fn decimals_compare_by_value() {
        let parse = |text: &str| Decimal::parse(text).unwrap_or_else(|| panic!("{text} parses"));
        assert_eq!(parse("1.500"), parse("15e-1"));
        assert_eq!(parse("+0100"), parse("1E2"));
        assert_eq!(parse("-0.0"), parse("0"));
        assert_eq!(parse(".5"), parse("0.50"));
        assert_eq!(parse("5."), parse("5"));
        assert_ne!(parse("1"), parse("-1"));
        assert_ne!(parse("1"), parse("10"));
        for bad in ["", "-", ".", "1.2.3", "1e", "1e+", "e5", "1x", "--1", "1e99999999999999999999"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_json_becomes_attribute_values() {
        let value = json!({"s": "a", "n": 5, "f": 1.5, "t": true, "z": null, "l": [1, "x"], "m": {"k": false}});
        let expected = AttributeValue::M(HashMap::from([
            ("s".to_owned(), AttributeValue::S("a".to_owned())),
            ("n".to_owned(), AttributeValue::N("5".to_owned())),
            ("f".to_owned(), AttributeValue::N("1.5".to_owned())),
            ("t".to_owned(), AttributeValue::Bool(true)),
            ("z".to_owned(), AttributeValue::Null(true)),
            (
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::N("1".to_owned()), AttributeValue::S("x".to_owned())]),
            ),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("k".to_owned(), AttributeValue::Bool(false))]))),
        ]));
        assert_eq!(json_to_attribute_value(&value), expected);
    }

    #[test]
    fn typed_keys_read_back_exactly() {
        let key = item(&[
            ("id", AttributeValue::S("order-7".to_owned())),
            ("seq", AttributeValue::N("12345678901234567890123.000".to_owned())),
            ("raw", AttributeValue::B(Blob::new(vec![0, 1, 254, 255]))),
        ]);
        let typed = TypedKey::from_attribute_values(&key).expect("a key");
        let text = serde_json::to_string(&typed).expect("serializes");
        assert_eq!(text, r#"{"id":{"S":"order-7"},"raw":{"B":"AAH+/w=="},"seq":{"N":"12345678901234567890123.000"}}"#);
        let read: TypedKey = serde_json::from_str(&text).expect("reads back");
        assert_eq!(read, typed);
        assert_eq!(read.to_attribute_values(), key);
    }

    #[test]
    fn typed_keys_refuse_other_types_and_bad_text() {
        let key = item(&[("id", AttributeValue::S("a".to_owned())), ("flag", AttributeValue::Bool(true))]);
        assert_eq!(
            TypedKey::from_attribute_values(&key),
            Err(NotAKeyAttribute { name: "flag".to_owned(), type_name: "BOOL" })
        );
        for bad in [r#"{"id":{"BOOL":true}}"#, r#"{"id":{"B":"not base64!"}}"#, r#"{"id":"a"}"#, "[]"] {
            assert!(serde_json::from_str::<TypedKey>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_finite_f64_stays_a_number(float in any::<f64>().prop_filter("finite", |float| float.is_finite())) {
            for text in [format!("{float}"), format!("{float:e}"), format!("{float:E}")] {
                prop_assert_eq!(number_to_json(&text).as_f64(), Some(float), "{}", text);
            }
        }

        #[test]
        fn numbers_never_change_value(text in "-?[0-9]{1,40}(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?") {
            match number_to_json(&text) {
                Value::String(kept) => prop_assert_eq!(kept, text),
                number => prop_assert_eq!(Decimal::parse(&number.to_string()), Decimal::parse(&text), "{}", number),
            }
        }

        #[test]
        fn typed_keys_round_trip(text in ".*", number in "-?[0-9]{1,38}(\\.[0-9]{1,10})?", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let key = HashMap::from([
                ("s".to_owned(), AttributeValue::S(text)),
                ("n".to_owned(), AttributeValue::N(number)),
                ("b".to_owned(), AttributeValue::B(Blob::new(bytes))),
            ]);
            let typed = TypedKey::from_attribute_values(&key).expect("a key");
            let read: TypedKey = serde_json::from_str(&serde_json::to_string(&typed).expect("serializes")).expect("reads back");
            prop_assert_eq!(read.to_attribute_values(), key);
        }
    }
}
