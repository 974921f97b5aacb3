//! A JSON value that keeps its object keys in the order they came in.
//!
//! docker prints API objects (`inspect`, `{{json .Config}}`) with a Go
//! struct's fields in their declared order, and Go maps with sorted keys.
//! The daemon's JSON already has that order, and so does serde's output of
//! our own API types, but `serde_json::Value` sorts every object's keys
//! (its `preserve_order` feature would keep them, but it is unified into
//! every crate of a workspace build, and its deeper recursion overflowed
//! the engine's small thread stacks). So the CLI reads what it prints as
//! an [`OValue`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<OValue>),
    /// Keys in document order; a repeated key keeps its first place and its
    /// last value (as Go's decoder does).
    Object(Vec<(String, OValue)>),
}

impl OValue {
    /// `value`'s JSON with its fields in serialization order (a struct's
    /// declared order; a `BTreeMap`'s sorted keys).
    pub(crate) fn from_serialize<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        serde_json::from_str(&serde_json::to_string(value)?)
    }

    /// The key's value in an object: an exact match, else the first key
    /// equal ignoring ASCII case (Go's template lookup of `APIVersion`
    /// finds `ApiVersion`).
    pub(crate) fn get(&self, name: &str) -> Option<&OValue> {
        let OValue::Object(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
    }

    /// The same value with every object's keys sorted, as Go marshals a map.
    pub(crate) fn sorted(&self) -> OValue {
        match self {
            OValue::Object(entries) => {
                let mut out: Vec<(String, OValue)> = entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.sorted()))
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                OValue::Object(out)
            }
            OValue::Array(items) => OValue::Array(items.iter().map(OValue::sorted).collect()),
            other => other.clone(),
        }
    }
}

impl From<&Value> for OValue {
    /// A `serde_json::Value` (whose objects are sorted already).
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => OValue::Null,
            Value::Bool(b) => OValue::Bool(*b),
            Value::Number(n) => OValue::Number(n.clone()),
            Value::String(s) => OValue::String(s.clone()),
            Value::Array(items) => OValue::Array(items.iter().map(OValue::from).collect()),
            Value::Object(map) => OValue::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), OValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl Serialize for OValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OValue::Null => s.serialize_unit(),
            OValue::Bool(b) => s.serialize_bool(*b),
            OValue::Number(n) => n.serialize(s),
            OValue::String(v) => s.serialize_str(v),
            OValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OValue::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OValueVisitor)
    }
}

struct OValueVisitor;

impl<'de> Visitor<'de> for OValueVisitor {
    type Value = OValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OValue, E> {
        Ok(OValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OValue, E> {
        Ok(OValue::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OValue, E> {
        Ok(OValue::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OValue, E> {
        Ok(Number::from_f64(v).map_or(OValue::Null, OValue::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OValue, E> {
        Ok(OValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<OValue, E> {
        Ok(OValue::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<OValue, E> {
        Ok(OValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<OValue, E> {
        Ok(OValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<OValue, D::Error> {
        OValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OValue, A::Error> {
        let mut entries: Vec<(String, OValue)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, OValue>()? {
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
        }
        Ok(OValue::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_document_order_and_round_trips() {
        let text = r#"{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1","N":[1,2.5,-3,true,null],"M":{"b":1,"a":{}}}"#;
        let v: OValue = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        assert_eq!(
            serde_json::to_string(&v.sorted()).unwrap(),
            r#"{"Gateway":"10.0.0.1","M":{"a":{},"b":1},"N":[1,2.5,-3,true,null],"Subnet":"10.0.0.0/24"}"#
        );
    }

    #[test]
    fn structs_keep_their_declared_order() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Ipam {
            subnet: &'static str,
            gateway: &'static str,
        }
        let v = OValue::from_serialize(&Ipam {
            subnet: "10.0.0.0/24",
            gateway: "10.0.0.1",
        })
        .unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}"#
        );
    }

    #[test]
    fn lookup_is_exact_then_case_insensitive_and_repeats_keep_the_last() {
        let v: OValue =
            serde_json::from_str(r#"{"ApiVersion":"1","apiversion":"2","K":1,"K":2}"#).unwrap();
        assert_eq!(v.get("apiversion"), Some(&OValue::String("2".into())));
        assert_eq!(v.get("APIVersion"), Some(&OValue::String("1".into())));
        assert_eq!(serde_json::to_string(v.get("K").unwrap()).unwrap(), "2");
        assert_eq!(v.get("missing"), None);
    }
}
