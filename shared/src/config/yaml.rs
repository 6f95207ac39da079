//! YAML text to a JSON value, remembering where every key and value was written.
//!
//! Built on granit-parser's events (the parser under serde-saphyr). Scalars are resolved by
//! the YAML 1.2 core schema: quoted and block scalars are always text; a plain scalar is null
//! (`~`, `null`, empty), a boolean (`true`/`false` in three spellings), an integer (decimal,
//! `0o` octal, `0x` hex), a float, or else text. So `on`, `yes` and `no` are text, as YAML 1.2
//! says. Core tags (`!!str`, `!!int`, …) are honoured; other tags, merge keys and complex keys
//! are reported. Duplicate keys are problems, and the first value is kept.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span, StrInput, Tag};
use serde_json::{Number, Value};

use super::report::{Collector, Pos, Seg, Slot};

/// The most nodes a document may expand to (aliases included), against "billion laughs".
const MAX_NODES: usize = 100_000;

/// Where a value (and, for a mapping entry, its key) was written.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    /// The key of a mapping entry.
    pub key: Option<Pos>,
    /// The value (for a block mapping or sequence, its first entry).
    pub value: Pos,
    /// For a text scalar written on one line whose source spells the value exactly (no escapes
    /// or folding): the column of its first character. Lets a problem point inside the text.
    pub text_column: Option<usize>,
}

/// A parsed document: its JSON value and the position of every path in it.
pub(crate) struct Parsed {
    pub value: Value,
    pub index: HashMap<Vec<Seg>, Loc>,
}

impl Parsed {
    /// The position of the value at `path`, or of its nearest written ancestor.
    pub fn value_pos(&self, path: &[Seg]) -> Pos {
        self.nearest(path).map_or(Pos::START, |l| l.value)
    }

    /// The position of the key at `path` if it has one, else of its value (or nearest
    /// ancestor). Used for problems about a mapping as a whole ("missing required field").
    pub fn key_pos(&self, path: &[Seg]) -> Pos {
        self.nearest(path)
            .map_or(Pos::START, |l| l.key.unwrap_or(l.value))
    }

    pub fn loc(&self, path: &[Seg]) -> Option<&Loc> {
        self.index.get(path)
    }

    fn nearest(&self, path: &[Seg]) -> Option<&Loc> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.index.get(&path[..n]))
    }
}

#[derive(Debug, Clone)]
struct Node {
    pos: Pos,
    kind: Kind,
    /// Nodes in this subtree, for the expansion budget.
    size: usize,
    text_column: Option<usize>,
    /// An empty plain scalar (nothing written after `key:`).
    empty: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar(Value),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
    /// A value that cannot be represented; the message says why.
    Bad(String),
}

#[derive(Debug, Clone)]
enum Key {
    Text { text: String, pos: Pos },
    Bad { message: String, pos: Pos },
}

/// A problem that stops reading the document (a syntax error).
struct Fatal {
    pos: Pos,
    message: String,
}

/// Where a node starts: its tag if it has one (`!!int 5`), else its content.
fn pos_of(span: &Span) -> Pos {
    let start = match span.tag_start {
        Some(tag) if tag.index() < span.start.index() => tag,
        _ => span.start,
    };
    Pos {
        line: start.line().max(1),
        column: start.col() + 1,
    }
}

/// Parses `text` as a single YAML document holding a mapping. Problems go to `out`; `None`
/// means there is nothing to validate (syntax error, empty file, not a mapping).
pub(crate) fn parse(text: &str, out: &mut Collector) -> Option<Parsed> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder {
        events: Parser::new_from_str(text),
        text,
        anchors: HashMap::new(),
        nodes: 0,
    };
    let root = match builder.document() {
        Ok(root) => root,
        Err(fatal) => {
            out.add(fatal.pos, &[], Slot::Other, fatal.message);
            return None;
        }
    };
    let Some(root) = root else {
        out.add(
            Pos::START,
            &[],
            Slot::Other,
            "the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)",
        );
        return None;
    };
    match &root.kind {
        Kind::Map(_) => {}
        Kind::Scalar(Value::Null) => {
            out.add(
                root.pos,
                &[],
                Slot::Other,
                "the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)",
            );
            return None;
        }
        other => {
            let got = match other {
                Kind::Seq(_) => "a list".to_owned(),
                Kind::Scalar(v) => super::report::describe(v),
                _ => "something else".to_owned(),
            };
            out.add(
                root.pos,
                &[],
                Slot::Other,
                format!("the file must be a mapping of fields (kind, metadata, spec), got {got}"),
            );
            return None;
        }
    }
    let mut index = HashMap::new();
    let mut path = Vec::new();
    let value = to_json(root, None, &mut path, &mut index, out);
    Some(Parsed { value, index })
}

struct Builder<'a> {
    events: Parser<'a, StrInput<'a>>,
    text: &'a str,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    /// The next event that is not a comment.
    fn next(&mut self) -> Result<(Event<'a>, Span), Fatal> {
        loop {
            match self.events.next() {
                None => {
                    return Err(Fatal {
                        pos: Pos::START,
                        message: "invalid YAML: the document ends unexpectedly".into(),
                    });
                }
                Some(Err(e)) => {
                    return Err(Fatal {
                        pos: Pos {
                            line: e.marker().line().max(1),
                            column: e.marker().col() + 1,
                        },
                        message: format!("invalid YAML: {}", e.info()),
                    });
                }
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok(item)) => return Ok(item),
            }
        }
    }

    /// The root node of the only document, `None` for an empty stream.
    fn document(&mut self) -> Result<Option<Node>, Fatal> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart => {}
                Event::StreamEnd => return Ok(root),
                Event::DocumentStart(..) => {
                    if root.is_some() {
                        return Err(Fatal {
                            pos: pos_of(&span),
                            message: "a second YAML document starts here; a fleet file holds \
                                      exactly one document"
                                .into(),
                        });
                    }
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span)?);
                    // DocumentEnd
                    let (event, span) = self.next()?;
                    if !matches!(event, Event::DocumentEnd) {
                        return Err(Fatal {
                            pos: pos_of(&span),
                            message: "invalid YAML: expected the end of the document".into(),
                        });
                    }
                }
                _ => {
                    return Err(Fatal {
                        pos: pos_of(&span),
                        message: "invalid YAML: unexpected content".into(),
                    });
                }
            }
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), Fatal> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Fatal {
                pos,
                message: format!(
                    "the document expands to more than {MAX_NODES} values (too many aliases?)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, Fatal> {
        let pos = pos_of(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, pos)?;
                let kind = scalar_kind(&text, style, tag.as_deref());
                // An empty value (`key:` with nothing after it) has no text to point at;
                // problems about it point at its key instead (see `to_json`).
                // (The parser reports it as a plain `~` with an empty span.)
                let empty = span.start.index() == span.end.index() && tag.is_none();
                let text_column = match &kind {
                    Kind::Scalar(Value::String(s)) => self.text_column(s, style, &span),
                    _ => None,
                };
                let node = Node {
                    pos,
                    kind,
                    size: 1,
                    text_column,
                    empty,
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.count(1, pos)?;
                let mut items = Vec::new();
                let mut size = 1;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item = self.node(event, span)?;
                    size += item.size;
                    items.push(item);
                }
                let kind = match collection_tag_problem(tag.as_deref(), "seq") {
                    Some(message) => Kind::Bad(message),
                    None => Kind::Seq(items),
                };
                let node = Node {
                    pos,
                    kind,
                    size,
                    text_column: None,
                    empty: false,
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(_, anchor, tag) => {
                self.count(1, pos)?;
                let mut entries = Vec::new();
                let mut size = 1;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.key(event, span)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span)?;
                    size += value.size;
                    entries.push((key, value));
                }
                let kind = match collection_tag_problem(tag.as_deref(), "map") {
                    Some(message) => Kind::Bad(message),
                    None => Kind::Map(entries),
                };
                let node = Node {
                    pos,
                    kind,
                    size,
                    text_column: None,
                    empty: false,
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(target) => {
                    let mut node = target.clone();
                    self.count(node.size, pos)?;
                    // Problems inside an alias point at the alias, where the reader is.
                    relocate(&mut node, pos);
                    Ok(node)
                }
                None => Ok(Node {
                    pos,
                    kind: Kind::Bad(
                        "this alias refers to a node that contains it, which is not allowed".into(),
                    ),
                    size: 1,
                    text_column: None,
                    empty: false,
                }),
            },
            _ => Err(Fatal {
                pos,
                message: "invalid YAML: unexpected content".into(),
            }),
        }
    }

    fn key(&mut self, event: Event<'a>, span: Span) -> Result<Key, Fatal> {
        let pos = pos_of(&span);
        match event {
            Event::Scalar(text, _, anchor, _) => {
                let node = Node {
                    pos,
                    kind: Kind::Scalar(Value::String(text.to_string())),
                    size: 1,
                    text_column: None,
                    empty: false,
                };
                self.remember(anchor, &node);
                Ok(Key::Text {
                    text: text.into_owned(),
                    pos,
                })
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|n| &n.kind) {
                Some(Kind::Scalar(v)) => Ok(Key::Text {
                    text: match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                    pos,
                }),
                _ => Ok(Key::Bad {
                    message: "a key must be plain text, not an alias to a list or mapping".into(),
                    pos,
                }),
            },
            other => {
                // A list or mapping used as a key: read it to stay in step, then report it.
                self.node(other, span)?;
                Ok(Key::Bad {
                    message: "a key must be plain text, not a list or mapping".into(),
                    pos,
                })
            }
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    /// The column of the first character of a one-line text scalar whose source spells it
    /// exactly (so a character offset in the value is a column offset in the file).
    fn text_column(&self, value: &str, style: ScalarStyle, span: &Span) -> Option<usize> {
        if span.start.line() != span.end.line() {
            return None;
        }
        let raw = span.slice(self.text)?;
        let inner = match style {
            ScalarStyle::Plain => raw,
            ScalarStyle::SingleQuoted => raw.strip_prefix('\'')?.strip_suffix('\'')?,
            ScalarStyle::DoubleQuoted => raw.strip_prefix('"')?.strip_suffix('"')?,
            _ => return None,
        };
        let offset = usize::from(style != ScalarStyle::Plain);
        (inner == value).then_some(span.start.col() + 1 + offset)
    }
}

fn relocate(node: &mut Node, pos: Pos) {
    node.pos = pos;
    node.text_column = None;
    match &mut node.kind {
        Kind::Seq(items) => items.iter_mut().for_each(|n| relocate(n, pos)),
        Kind::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                match key {
                    Key::Text { pos: p, .. } | Key::Bad { pos: p, .. } => *p = pos,
                }
                relocate(value, pos);
            }
        }
        Kind::Scalar(_) | Kind::Bad(_) => {}
    }
}

fn collection_tag_problem(tag: Option<&Tag>, expected: &str) -> Option<String> {
    let tag = tag?;
    if tag.core_suffix() == Some(expected) || tag.original() == "!" {
        None
    } else {
        Some(format!(
            "the YAML tag {} is not supported here",
            tag.original()
        ))
    }
}

fn scalar_kind(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Kind {
    let Some(tag) = tag else {
        return if style == ScalarStyle::Plain {
            Kind::Scalar(resolve_plain(text))
        } else {
            Kind::Scalar(Value::String(text.to_owned()))
        };
    };
    if tag.original() == "!" {
        return Kind::Scalar(Value::String(text.to_owned()));
    }
    let bad = |what: &str| {
        Kind::Bad(format!(
            "{text:?} is tagged {} but is not {what}",
            tag.original()
        ))
    };
    match tag.core_suffix() {
        Some("str") => Kind::Scalar(Value::String(text.to_owned())),
        Some("null") => match resolve_plain(text) {
            Value::Null => Kind::Scalar(Value::Null),
            _ => bad("null"),
        },
        Some("bool") => match resolve_plain(text) {
            v @ Value::Bool(_) => Kind::Scalar(v),
            _ => bad("true or false"),
        },
        Some("int") => match resolve_plain(text) {
            v @ Value::Number(_) if parse_int(text).is_some() => Kind::Scalar(v),
            _ => bad("a whole number"),
        },
        Some("float") => match parse_int(text)
            .map(|i| i.as_f64())
            .or_else(|| parse_float(text))
        {
            Some(f) => float_kind(f, text),
            None => bad("a number"),
        },
        _ => Kind::Bad(format!(
            "the YAML tag {} is not supported here",
            tag.original()
        )),
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return match i {
            Int::Signed(i) => Value::Number(i.into()),
            Int::Unsigned(u) => Value::Number(u.into()),
            // Too big for 64 bits: keep the digits as a float so checks report it as a number.
            Int::Huge(f) => {
                Number::from_f64(f).map_or(Value::String(text.to_owned()), Value::Number)
            }
        };
    }
    if let Some(f) = parse_float(text) {
        return match float_kind(f, text) {
            Kind::Scalar(v) => v,
            // .inf/.nan have no JSON form; keep the text, which no numeric field accepts.
            _ => Value::String(text.to_owned()),
        };
    }
    Value::String(text.to_owned())
}

fn float_kind(f: f64, text: &str) -> Kind {
    match Number::from_f64(f) {
        Some(n) => Kind::Scalar(Value::Number(n)),
        None => Kind::Bad(format!("{text} is not a finite number")),
    }
}

enum Int {
    Signed(i64),
    Unsigned(u64),
    Huge(f64),
}

impl Int {
    fn as_f64(&self) -> f64 {
        match *self {
            Int::Signed(i) => i as f64,
            Int::Unsigned(u) => u as f64,
            Int::Huge(f) => f,
        }
    }
}

fn parse_int(text: &str) -> Option<Int> {
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| u64::from_str_radix(oct, 8).map_or(Int::Huge(f64::INFINITY), Int::Unsigned));
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(hex, 16).map_or(Int::Huge(f64::INFINITY), Int::Unsigned));
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let plain = text.strip_prefix('+').unwrap_or(text);
    if let Ok(i) = plain.parse::<i64>() {
        return Some(Int::Signed(i));
    }
    if let Ok(u) = plain.parse::<u64>() {
        return Some(Int::Unsigned(u));
    }
    plain.parse::<f64>().ok().map(Int::Huge)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?\.(inf|Inf|INF)`,
/// `\.(nan|NaN|NAN)`.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac_part {
        None => !int_part.is_empty() && all_digits(int_part),
        Some(frac) if int_part.is_empty() => !frac.is_empty() && all_digits(frac),
        Some(frac) => all_digits(int_part) && all_digits(frac),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && all_digits(digits)
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    text.parse::<f64>().ok()
}

fn to_json(
    node: Node,
    key: Option<Pos>,
    path: &mut Vec<Seg>,
    index: &mut HashMap<Vec<Seg>, Loc>,
    out: &mut Collector,
) -> Value {
    let value_pos = match key {
        Some(key_pos) if node.empty => key_pos,
        _ => node.pos,
    };
    index.insert(
        path.clone(),
        Loc {
            key,
            value: value_pos,
            text_column: node.text_column,
        },
    );
    match node.kind {
        Kind::Scalar(v) => v,
        Kind::Bad(message) => {
            out.add(value_pos, path, Slot::Value, message);
            Value::Null
        }
        Kind::Seq(items) => {
            let mut array = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(Seg::Index(i));
                array.push(to_json(item, None, path, index, out));
                path.pop();
            }
            Value::Array(array)
        }
        Kind::Map(entries) => {
            let mut map = serde_json::Map::new();
            let mut first_seen: HashMap<String, Pos> = HashMap::new();
            for (key, value) in entries {
                match key {
                    Key::Bad { message, pos } => out.add(pos, path, Slot::Other, message),
                    Key::Text { text, pos } => {
                        if let Some(first) = first_seen.get(&text) {
                            out.add(
                                pos,
                                path,
                                Slot::Other,
                                format!(
                                    "duplicate key {text:?} (first defined at line {})",
                                    first.line
                                ),
                            );
                            continue;
                        }
                        first_seen.insert(text.clone(), pos);
                        path.push(Seg::Key(text.clone()));
                        let v = to_json(value, Some(pos), path, index, out);
                        path.pop();
                        map.insert(text, v);
                    }
                }
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_ok(text: &str) -> Parsed {
        let mut out = Collector::new("t.yaml");
        let parsed = parse(text, &mut out);
        assert!(out.is_empty(), "{}", out.finish());
        parsed.unwrap()
    }

    fn problems(text: &str) -> String {
        let mut out = Collector::new("t.yaml");
        let _ = parse(text, &mut out);
        out.finish().to_string()
    }

    #[test]
    fn plain_scalars_follow_the_yaml_1_2_core_schema() {
        let p = parse_ok(
            "a: ~\nb: null\nc:\nd: true\ne: FALSE\nf: yes\ng: on\nh: 42\ni: -7\nj: 0x1F\nk: 0o17\n\
             l: 1.5\nm: .5\nn: 1e3\no: '42'\np: \"true\"\nq: 012\nr: 1_000\ns: 3.\nt: +5\n",
        );
        assert_eq!(
            p.value,
            json!({
                "a": null, "b": null, "c": null, "d": true, "e": false, "f": "yes", "g": "on",
                "h": 42, "i": -7, "j": 31, "k": 15, "l": 1.5, "m": 0.5, "n": 1000.0,
                "o": "42", "p": "true", "q": 12, "r": "1_000", "s": 3.0, "t": 5
            })
        );
    }

    #[test]
    fn core_tags_force_the_type() {
        let p = parse_ok("a: !!str 12\nb: !!float 3\nc: !!int \"7\"\nd: ! 12\n");
        assert_eq!(p.value, json!({"a": "12", "b": 3.0, "c": 7, "d": "12"}));
        assert_eq!(
            problems("a: !!int abc\nb: !Ref x\n"),
            "t.yaml:1:4: a: \"abc\" is tagged !!int but is not a whole number\n\
             t.yaml:2:4: b: the YAML tag !Ref is not supported here"
        );
    }

    #[test]
    fn infinity_is_text_unless_tagged_float() {
        let p = parse_ok("a: .inf\n");
        assert_eq!(p.value, json!({"a": ".inf"}));
        assert_eq!(
            problems("a: !!float .inf\n"),
            "t.yaml:1:4: a: .inf is not a finite number"
        );
    }

    #[test]
    fn positions_of_keys_and_values_are_one_based() {
        let p = parse_ok("spec:\n  instances:\n    - name: blue\n      count: 2\n");
        let path = vec![
            Seg::Key("spec".into()),
            Seg::Key("instances".into()),
            Seg::Index(0),
            Seg::Key("count".into()),
        ];
        let loc = p.loc(&path).unwrap();
        assert_eq!(loc.key, Some(Pos { line: 4, column: 7 }));
        assert_eq!(
            loc.value,
            Pos {
                line: 4,
                column: 14
            }
        );
        assert_eq!(p.key_pos(&path[..1]), Pos { line: 1, column: 1 });
    }

    #[test]
    fn text_column_is_known_only_when_the_source_spells_the_value() {
        let p = parse_ok("a: $HOME/x\nb: '$HOME'\nc: \"a\\tb\"\n");
        let col = |k: &str| p.loc(&[Seg::Key(k.into())]).unwrap().text_column;
        assert_eq!(col("a"), Some(4));
        assert_eq!(col("b"), Some(5));
        assert_eq!(col("c"), None);
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_value_kept() {
        let mut out = Collector::new("t.yaml");
        let p = parse("a: 1\nb: 2\na: 3\n", &mut out).unwrap();
        assert_eq!(p.value, json!({"a": 1, "b": 2}));
        assert_eq!(
            out.finish().to_string(),
            "t.yaml:3:1: duplicate key \"a\" (first defined at line 1)"
        );
    }

    #[test]
    fn aliases_expand_and_point_at_the_alias() {
        let p = parse_ok("a: &x {b: 1}\nc: *x\n");
        assert_eq!(p.value, json!({"a": {"b": 1}, "c": {"b": 1}}));
        let loc = p
            .loc(&[Seg::Key("c".into()), Seg::Key("b".into())])
            .unwrap();
        assert_eq!(loc.value, Pos { line: 2, column: 4 });
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(problems(&text).contains("expands to more than 100000 values"));
    }

    #[test]
    fn whole_file_problems() {
        assert_eq!(
            problems(""),
            "t.yaml:1:1: the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)"
        );
        assert_eq!(
            problems("# just a comment\n"),
            "t.yaml:1:1: the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)"
        );
        assert_eq!(
            problems("- a\n- b\n"),
            "t.yaml:1:1: the file must be a mapping of fields (kind, metadata, spec), got a list"
        );
        assert_eq!(
            problems("a: 1\n---\nb: 2\n"),
            "t.yaml:2:1: a second YAML document starts here; a fleet file holds exactly one document"
        );
        assert_eq!(
            problems("a: b: c\n"),
            "t.yaml:1:5: invalid YAML: mapping values are not allowed in this context"
        );
        assert_eq!(
            problems("[a, b]: 1\n"),
            "t.yaml:1:1: a key must be plain text, not a list or mapping"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let p = parse_ok("\u{feff}a: 1\n");
        assert_eq!(p.value, json!({"a": 1}));
        assert_eq!(
            p.value_pos(&[Seg::Key("a".into())]),
            Pos { line: 1, column: 4 }
        );
    }
}
