//! The JSON Schema of the fleet file, generated from the raw types, and the translation of
//! schema errors into problems a user can act on.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::Value;

use super::raw::RawFleetFile;
use super::report::{Collector, Seg, Slot, describe};
use super::types::checked;
use super::yaml::Parsed;

/// Generates the schema. Deterministic: keys come out in the same order every time.
fn generate() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<RawFleetFile>().to_value();
    unwrap_descriptions(&mut schema);
    schema
}

/// Doc comments are wrapped at 100 columns; descriptions read better as one line per
/// paragraph in an editor's hover.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => {
                        let paragraphs: Vec<String> = text
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect();
                        *text = paragraphs.join("\n\n");
                    }
                    other => unwrap_descriptions(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The allowed values of an enumeration schema (`enum`, or `oneOf`/`anyOf` of `const`s).
fn enum_options(schema: &Value) -> Option<Vec<Value>> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return Some(options.clone());
    }
    let variants = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    variants.iter().map(|v| v.get("const").cloned()).collect()
}

pub(crate) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(generate)
}

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Follows `$ref`s (to `#/$defs/<name>`), returning the schema and the name of the last
/// definition followed.
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> (&'a Value, Option<&'a str>) {
    let mut def = None;
    for _ in 0..16 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(name) = reference.strip_prefix("#/$defs/") else {
            break;
        };
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(target) => {
                schema = target;
                def = Some(name);
            }
            None => break,
        }
    }
    (schema, def)
}

/// The schema that applies at `path`, and its definition name if it is a named type.
pub(crate) fn schema_at<'a>(root: &'a Value, path: &[Seg]) -> Option<(&'a Value, Option<&'a str>)> {
    let (mut schema, mut def) = resolve(root, root);
    for seg in path {
        let next = match seg {
            Seg::Key(k) => schema
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))?,
            Seg::Index(_) => schema.get("items")?,
        };
        (schema, def) = resolve(root, next);
    }
    Some((schema, def))
}

fn to_path(location: &jsonschema::paths::Location) -> Vec<Seg> {
    location
        .iter()
        .map(|seg| match seg {
            LocationSegment::Property(p) => Seg::Key(p.into_owned()),
            LocationSegment::Index(i) => Seg::Index(i),
        })
        .collect()
}

/// Validates the document against the schema; every error becomes a problem.
pub(crate) fn validate(parsed: &Parsed, out: &mut Collector) {
    let validator = match validator() {
        Ok(v) => v,
        Err(e) => {
            out.add(
                super::report::Pos::START,
                &[],
                Slot::Other,
                format!("internal error: the built-in schema does not compile: {e}"),
            );
            return;
        }
    };
    let root = schema();
    for error in validator.iter_errors(&parsed.value) {
        let path = to_path(error.instance_path());
        let instance = error.instance();
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.add(
                    parsed.key_pos(&path),
                    &path,
                    Slot::Other,
                    format!("missing required field {name:?}"),
                );
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed: Vec<&str> = schema_at(root, &path)
                    .and_then(|(s, _)| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for key in unexpected {
                    let mut key_path = path.clone();
                    key_path.push(Seg::Key(key.clone()));
                    out.add(
                        parsed.key_pos(&key_path),
                        &path,
                        Slot::Other,
                        unknown_field(key, &allowed),
                    );
                }
            }
            kind => {
                let (schema, def) = schema_at(root, &path).unwrap_or((root, None));
                let message = value_message(kind, schema, def, instance);
                out.add(parsed.value_pos(&path), &path, Slot::Value, message);
            }
        }
    }
}

/// Runs the checks a schema pattern cannot express on every named string type (a port above
/// 65535, an endpoint the URL parser rejects, a duration that overflows), and rejects
/// fractional numbers where whole numbers are required. Values that already have a problem are
/// skipped.
pub(crate) fn check_typed_values(parsed: &Parsed, out: &mut Collector) {
    let root = schema();
    let mut path = Vec::new();
    walk(root, root, &parsed.value, &mut path, parsed, out);
}

fn walk(
    root: &Value,
    schema: &Value,
    value: &Value,
    path: &mut Vec<Seg>,
    parsed: &Parsed,
    out: &mut Collector,
) {
    let (schema, def) = resolve(root, schema);
    if out.has_value_problem(path) {
        return;
    }
    if let Some(c) = def.and_then(checked) {
        if let Err(message) = (c.check)(value) {
            out.add(parsed.value_pos(path), path, Slot::Value, message);
        }
        return;
    }
    if schema.get("type").and_then(Value::as_str) == Some("integer") {
        if let Value::Number(n) = value
            && n.is_f64()
        {
            let message = format!("must be {}, got {n}", expectation(schema, def));
            out.add(parsed.value_pos(path), path, Slot::Value, message);
        }
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(child) = child {
                    path.push(Seg::Key(k.clone()));
                    walk(root, child, v, path, parsed, out);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    walk(root, child, v, path, parsed, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// The message for a value the schema rejected.
fn value_message(
    kind: &ValidationErrorKind,
    schema: &Value,
    def: Option<&str>,
    instance: &Value,
) -> String {
    if let Some(c) = def.and_then(checked) {
        if let Value::String(_) = instance
            && let Err(message) = (c.check)(instance)
        {
            return message;
        }
        return with_quote_hint(
            format!("must be {}, got {}", c.expected, describe(instance)),
            instance,
            |text| (c.check)(&Value::String(text.to_owned())).is_ok(),
        );
    }
    match kind {
        ValidationErrorKind::MinLength { limit: 1 } if instance.is_string() => {
            "must not be empty".to_owned()
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit } => {
            format!(
                "must have at least {limit} {}, got {}",
                if *limit == 1 { "entry" } else { "entries" },
                if instance.as_array().is_some_and(Vec::is_empty) {
                    "an empty list".to_owned()
                } else {
                    describe(instance)
                }
            )
        }
        _ if enum_options(schema).is_some() => {
            let mut message = format!(
                "must be {}, got {}",
                expectation(schema, def),
                describe(instance)
            );
            if let (Some(options), Some(s)) = (enum_options(schema), instance.as_str()) {
                let names: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
                if let Some(best) = suggest(s, &names) {
                    message.push_str(&format!("; did you mean {best:?}?"));
                }
            }
            message
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("must be {expected_value}, got {}", describe(instance))
        }
        ValidationErrorKind::Type { kind } => {
            let wants_text = match kind {
                TypeKind::Single(t) => *t == jsonschema::JsonType::String,
                TypeKind::Multiple(_) => false,
            };
            let message = format!(
                "must be {}, got {}",
                expectation(schema, def),
                describe(instance)
            );
            let wants_bool = matches!(kind, TypeKind::Single(jsonschema::JsonType::Boolean));
            match instance.as_str() {
                Some(
                    word @ ("yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "On" | "Off"
                    | "YES" | "NO" | "ON" | "OFF"),
                ) if wants_bool => {
                    format!("{message} (YAML 1.2 reads {word} as text; write true or false)")
                }
                _ if wants_text => with_quote_hint(message, instance, |_| true),
                _ if instance.is_null()
                    && matches!(kind, TypeKind::Single(jsonschema::JsonType::Object)) =>
                {
                    format!("{message} (remove the key, or write {{}} to use the defaults)")
                }
                _ if instance.is_null()
                    && matches!(kind, TypeKind::Single(jsonschema::JsonType::Array)) =>
                {
                    format!("{message} (write [] for an empty list)")
                }
                _ => message,
            }
        }
        _ => format!(
            "must be {}, got {}",
            expectation(schema, def),
            describe(instance)
        ),
    }
}

/// Adds "write it in quotes" when a number or boolean was given where text is expected and its
/// text would be acceptable.
fn with_quote_hint(message: String, instance: &Value, acceptable: impl Fn(&str) -> bool) -> String {
    let text = match instance {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return message,
    };
    if acceptable(&text) {
        format!(
            "{message} (YAML reads {text} as a {}; write \"{text}\" in quotes to use it as text)",
            if instance.is_number() {
                "number"
            } else {
                "boolean"
            }
        )
    } else {
        message
    }
}

/// What a schema accepts, in words: "a whole number >= 0", "\"classic\" or \"network\"".
pub(crate) fn expectation(schema: &Value, def: Option<&str>) -> String {
    if let Some(c) = def.and_then(checked) {
        return c.expected.to_owned();
    }
    if let Some(options) = enum_options(schema) {
        return one_of(&options);
    }
    if let Some(value) = schema.get("const") {
        return value.to_string();
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let range = |noun: &str| {
        let min = number("minimum");
        let max = number("maximum").filter(|m| *m < f64::from(u32::MAX));
        match (min, max, number("exclusiveMinimum")) {
            (_, _, Some(x)) => format!("{noun} > {x}"),
            (Some(a), Some(b), _) => format!("{noun} from {a} to {b}"),
            (Some(a), None, _) => format!("{noun} >= {a}"),
            (None, Some(b), _) => format!("{noun} <= {b}"),
            (None, None, None) => noun.to_owned(),
        }
    };
    match schema.get("type") {
        Some(Value::String(t)) => match t.as_str() {
            "integer" => range("a whole number"),
            "number" => range("a number"),
            "string" => {
                if schema.get("minLength").and_then(Value::as_u64) == Some(1) {
                    "non-empty text".to_owned()
                } else {
                    "text".to_owned()
                }
            }
            "boolean" => "true or false".to_owned(),
            "object" => "a mapping".to_owned(),
            "array" => "a list".to_owned(),
            other => other.to_owned(),
        },
        Some(Value::Array(types)) => {
            let words: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| match t {
                    "string" => "text",
                    "number" => "a number",
                    "integer" => "a whole number",
                    "boolean" => "true/false",
                    "object" => "a mapping",
                    "array" => "a list",
                    _ => "nothing",
                })
                .collect();
            join_or(&words)
        }
        _ => "a valid value".to_owned(),
    }
}

fn one_of(options: &[Value]) -> String {
    let quoted: Vec<String> = options.iter().map(Value::to_string).collect();
    match quoted.len() {
        0 => "nothing".to_owned(),
        1 | 2 => quoted.join(" or "),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The message for an unknown field, with a suggestion when a known field is close.
pub(crate) fn unknown_field(key: &str, allowed: &[&str]) -> String {
    if key == "<<" {
        return "YAML merge keys (<<) are not supported; write the fields out in full".to_owned();
    }
    match suggest(key, allowed) {
        Some(best) => format!("unknown field {key:?}; did you mean {best:?}?"),
        None if allowed.is_empty() => format!("unknown field {key:?}"),
        None => format!(
            "unknown field {key:?} (allowed here: {})",
            allowed.join(", ")
        ),
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_lowercase();
    if let Some(same) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(same);
    }
    candidates
        .iter()
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&lower, &c.to_lowercase()),
                *c,
            )
        })
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_case_slips_and_small_typos_only() {
        let fields = ["compartmentId", "imageId", "shape", "instances", "subnetId"];
        assert_eq!(suggest("compartmentID", &fields), Some("compartmentId"));
        assert_eq!(suggest("sahpe", &fields), Some("shape"));
        assert_eq!(suggest("instance", &fields), Some("instances"));
        assert_eq!(suggest("subnet", &fields), Some("subnetId"));
        assert_eq!(suggest("colour", &fields), None);
    }

    #[test]
    fn expectations_read_as_english() {
        let s = serde_json::json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32});
        assert_eq!(expectation(&s, None), "a whole number >= 0");
        let s = serde_json::json!({"type": "integer", "minimum": 1, "maximum": 65535});
        assert_eq!(expectation(&s, None), "a whole number from 1 to 65535");
        let s = serde_json::json!({"type": "number", "exclusiveMinimum": 0});
        assert_eq!(expectation(&s, None), "a number > 0");
        let s = serde_json::json!({"type": "string", "enum": ["classic", "network"]});
        assert_eq!(expectation(&s, None), "\"classic\" or \"network\"");
        let s = serde_json::json!({"type": ["string", "number", "boolean"]});
        assert_eq!(expectation(&s, None), "text, a number or true/false");
    }
}
