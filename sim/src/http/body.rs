//! Reading JSON request bodies field by field, so a bad field is answered with an error that
//! names it (`createVnicDetails.subnetId must be a string`), as OCI's validation does.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Map, Value};

use super::{ApiError, SimRequest};

/// `definedTags`: namespace -> key -> value.
pub type DefinedTags = BTreeMap<String, Map<String, Value>>;

/// A JSON object in a request body, with the path that led to it (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

/// Parses the body as one JSON object: 400 `CannotParseRequest` when it is not JSON, 400
/// `InvalidParameter` when it is JSON but not an object. An empty body is an empty object.
pub fn object(req: &SimRequest) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match req.json::<Value>()? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::invalid_parameter(format!(
            "the request body must be a JSON object, got {}",
            kind(&other)
        ))),
    }
}

/// Like [`object`], but an empty body is a 400 `MissingParameter`.
pub fn required_object(req: &SimRequest, what: &str) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("the request body ({what}) is required"),
        ));
    }
    object(req)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn missing(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "MissingParameter",
        format!("Missing required parameter '{path}'"),
    )
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid_parameter(format!("{path} must be {expected}, got {}", kind(got)))
}

impl<'a> Fields<'a> {
    /// The top-level object (an empty prefix).
    pub fn root(map: &'a Map<String, Value>) -> Self {
        Self { map, prefix: "" }
    }

    /// The full name of a field for messages (`createVnicDetails.subnetId`).
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The raw value; JSON `null` counts as absent.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(&self.path(name), "a string", v)),
        }
    }

    /// A required non-empty string.
    pub fn req_str(&self, name: &str) -> Result<&'a str, ApiError> {
        match self.opt_str(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(missing(&self.path(name))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(&self.path(name), "a boolean", v)),
        }
    }

    pub fn req_bool(&self, name: &str) -> Result<bool, ApiError> {
        self.opt_bool(name)?
            .ok_or_else(|| missing(&self.path(name)))
    }

    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| {
                ApiError::invalid_parameter(format!("{} is not a number", self.path(name)))
            }),
            Some(v) => Err(wrong_type(&self.path(name), "a number", v)),
        }
    }

    /// An integer within `range` (inclusive).
    pub fn opt_int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if range.contains(&i) => Ok(Some(i)),
                _ => Err(ApiError::invalid_parameter(format!(
                    "{} must be an integer from {} to {}, got {n}",
                    self.path(name),
                    range.start(),
                    range.end()
                ))),
            },
            Some(v) => Err(wrong_type(&self.path(name), "an integer", v)),
        }
    }

    pub fn req_int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        self.opt_int(name, range)?
            .ok_or_else(|| missing(&self.path(name)))
    }

    /// A nested object; `path_buf` keeps the nested prefix alive for the returned view.
    pub fn opt_object<'b>(
        &self,
        name: &str,
        path_buf: &'b mut String,
    ) -> Result<Option<Fields<'b>>, ApiError>
    where
        'a: 'b,
    {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Object(m)) => {
                *path_buf = self.path(name);
                Ok(Some(Fields {
                    map: m,
                    prefix: path_buf.as_str(),
                }))
            }
            Some(v) => Err(wrong_type(&self.path(name), "an object", v)),
        }
    }

    /// A map of string to string (freeformTags, metadata).
    pub fn opt_string_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(wrong_type(
                        &format!("{}.{k}", self.path(name)),
                        "a string",
                        other,
                    )),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Some),
            Some(v) => Err(wrong_type(&self.path(name), "an object of strings", v)),
        }
    }

    /// A map of objects (definedTags: namespace -> key -> value).
    pub fn opt_object_map(&self, name: &str) -> Result<Option<DefinedTags>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::Object(inner) => Ok((k.clone(), inner.clone())),
                    other => Err(wrong_type(
                        &format!("{}.{k}", self.path(name)),
                        "an object",
                        other,
                    )),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Some),
            Some(v) => Err(wrong_type(&self.path(name), "an object", v)),
        }
    }

    /// A list of strings.
    pub fn opt_string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(wrong_type(
                        &format!("{}[{i}]", self.path(name)),
                        "a string",
                        other,
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(wrong_type(&self.path(name), "an array of strings", v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn errors_name_the_nested_field() {
        let m = map(r#"{"createVnicDetails":{"subnetId":5},"port":70000,"ok":true}"#);
        let f = Fields::root(&m);
        let mut buf = String::new();
        let vnic = f
            .opt_object("createVnicDetails", &mut buf)
            .unwrap()
            .unwrap();
        let e = vnic.opt_str("subnetId").unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert!(
            e.message
                .contains("createVnicDetails.subnetId must be a string"),
            "{}",
            e.message
        );
        let e = f.opt_int("port", 1..=65535).unwrap_err();
        assert!(
            e.message
                .contains("port must be an integer from 1 to 65535"),
            "{}",
            e.message
        );
        let e = f.req_str("compartmentId").unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("compartmentId"));
        assert_eq!(f.opt_bool("ok").unwrap(), Some(true));
    }

    #[test]
    fn null_counts_as_absent_and_empty_strings_are_missing() {
        let m = map(r#"{"a":null,"b":"  "}"#);
        let f = Fields::root(&m);
        assert_eq!(f.opt_str("a").unwrap(), None);
        assert_eq!(f.req_str("b").unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn maps_must_hold_strings() {
        let m = map(r#"{"freeformTags":{"fleet":"web","n":1}}"#);
        let e = Fields::root(&m).opt_string_map("freeformTags").unwrap_err();
        assert!(
            e.message.contains("freeformTags.n must be a string"),
            "{}",
            e.message
        );
    }
}
