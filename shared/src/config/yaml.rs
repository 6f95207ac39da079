//! YAML text to a JSON value, remembering where every key and value was written.
//!
//! Built on granit-parser's events (the parser under serde-saphyr). Scalars are resolved by
//! the YAML 1.2 core schema: quoted and block scalars are always text; a plain scalar is null
//! (`~`, `null`, empty), a boolean (`true`/`false` in three spellings), an integer (decimal,
//! `0o` octal, `0x` hex), a float, or else text. So `on`, `yes` and `no` are text, as YAML 1.2
//! says. Core tags (`!!str`, `!!int`, …) are honoured; other tags, merge keys and complex keys
//! are reported. Duplicate keys are problems, and the first value is kept.
//!
//! # Limits
//! Anchored nodes are shared, never copied when they are recorded; each alias use is charged
//! to two budgets, the number of values ([`MAX_NODES`]) and the bytes of text
//! ([`MAX_TEXT_BYTES`]) the document expands to, so "billion laughs" and its relatives (one
//! long anchored string aliased many times) stop early. Lists and mappings may nest at most
//! [`MAX_DEPTH`] levels. The positions of the values are kept in a tree shaped like the
//! document, so remembering them costs one entry per value whatever the nesting.

use std::collections::HashMap;
use std::rc::Rc;

use granit_parser::{Event, Parser, ScalarStyle, Span, StrInput, Tag};
use serde_json::{Number, Value};

use super::report::{Collector, Pos, Seg, Slot};

/// The most nodes a document may expand to (aliases included), against "billion laughs".
pub(crate) const MAX_NODES: usize = 100_000;

/// The most bytes of text (scalars and keys) a document may expand to, aliases included.
pub(crate) const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// The deepest lists and mappings may nest, the root mapping being level 1. A fleet file
/// needs four (`spec.definedTags.<namespace>`, `spec.instances[]`); the parser alone would
/// allow 510.
pub(crate) const MAX_DEPTH: usize = 32;

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
    index: LocTree,
}

/// The positions of a value and of everything inside it, shaped like the value.
#[derive(Debug)]
struct LocTree {
    loc: Loc,
    children: Children,
}

#[derive(Debug)]
enum Children {
    None,
    Seq(Vec<LocTree>),
    Map(HashMap<String, LocTree>),
}

impl LocTree {
    fn child(&self, seg: &Seg) -> Option<&LocTree> {
        match (&self.children, seg) {
            (Children::Seq(items), Seg::Index(i)) => items.get(*i),
            (Children::Map(entries), Seg::Key(k)) => entries.get(k),
            _ => None,
        }
    }
}

impl Parsed {
    /// The position of the value at `path`, or of its nearest written ancestor.
    pub fn value_pos(&self, path: &[Seg]) -> Pos {
        self.nearest(path).value
    }

    /// The position of the key at `path` if it has one, else of its value (or nearest
    /// ancestor). Used for problems about a mapping as a whole ("missing required field").
    pub fn key_pos(&self, path: &[Seg]) -> Pos {
        let l = self.nearest(path);
        l.key.unwrap_or(l.value)
    }

    pub fn loc(&self, path: &[Seg]) -> Option<&Loc> {
        let mut tree = &self.index;
        for seg in path {
            tree = tree.child(seg)?;
        }
        Some(&tree.loc)
    }

    fn nearest(&self, path: &[Seg]) -> &Loc {
        let mut tree = &self.index;
        for seg in path {
            match tree.child(seg) {
                Some(child) => tree = child,
                None => break,
            }
        }
        &tree.loc
    }
}

#[derive(Debug)]
struct Node {
    pos: Pos,
    kind: Kind,
    /// Nodes in this subtree, for the expansion budget.
    size: usize,
    /// Bytes of text (scalars and keys) in this subtree, for the expansion budget.
    bytes: usize,
    text_column: Option<usize>,
    /// An empty plain scalar (nothing written after `key:`).
    empty: bool,
}

impl Node {
    /// A list or mapping written at `pos`.
    fn collection(pos: Pos, kind: Kind, size: usize, bytes: usize) -> Self {
        Node {
            pos,
            kind,
            size,
            bytes,
            text_column: None,
            empty: false,
        }
    }
}

#[derive(Debug)]
enum Kind {
    Scalar(Value),
    Seq(Vec<Use>),
    Map(Vec<(Key, Use)>),
    /// A value that cannot be represented; the message says why.
    Bad(String),
}

#[derive(Debug)]
enum Key {
    Text { text: String, pos: Pos },
    Bad { message: String, pos: Pos },
}

/// A node as it appears in the document: written there, or an alias of an anchored node
/// (shared, not copied). Problems inside an alias point at the alias, where the reader is.
#[derive(Debug)]
struct Use {
    node: Rc<Node>,
    /// For an alias: where it was written.
    alias_at: Option<Pos>,
}

impl Use {
    fn written(node: Node) -> Self {
        Use {
            node: Rc::new(node),
            alias_at: None,
        }
    }
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
        bytes: 0,
        depth: 0,
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
    let root_pos = root.alias_at.unwrap_or(root.node.pos);
    match &root.node.kind {
        Kind::Map(_) => {}
        Kind::Scalar(Value::Null) => {
            out.add(
                root_pos,
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
                root_pos,
                &[],
                Slot::Other,
                format!("the file must be a mapping of fields (kind, metadata, spec), got {got}"),
            );
            return None;
        }
    }
    let mut path = Vec::new();
    let (value, index) = to_json(&root.node, None, root.alias_at, &mut path, out);
    Some(Parsed { value, index })
}

struct Builder<'a> {
    events: Parser<'a, StrInput<'a>>,
    text: &'a str,
    /// Anchored nodes, shared with the tree (recording one copies nothing).
    anchors: HashMap<usize, Rc<Node>>,
    /// Values the document expands to so far (aliases counted at every use).
    nodes: usize,
    /// Bytes of text the document expands to so far (aliases counted at every use).
    bytes: usize,
    /// Lists and mappings open around the current node.
    depth: usize,
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
    fn document(&mut self) -> Result<Option<Use>, Fatal> {
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

    /// Charges `nodes` values and `bytes` bytes of text to the expansion budgets.
    fn count(&mut self, nodes: usize, bytes: usize, pos: Pos) -> Result<(), Fatal> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(Fatal {
                pos,
                message: format!(
                    "the document expands to more than {MAX_NODES} values (too many aliases?)"
                ),
            });
        }
        if self.bytes > MAX_TEXT_BYTES {
            return Err(Fatal {
                pos,
                message: format!(
                    "the document expands to more than {} MiB of text (too many aliases?)",
                    MAX_TEXT_BYTES / (1024 * 1024)
                ),
            });
        }
        Ok(())
    }

    /// Enters a list or mapping written at `pos`.
    fn enter(&mut self, pos: Pos) -> Result<(), Fatal> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Fatal {
                pos,
                message: format!(
                    "lists and mappings are nested more than {MAX_DEPTH} levels deep here; a \
                     fleet file needs far fewer"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Use, Fatal> {
        let pos = pos_of(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, text.len(), pos)?;
                let kind = scalar_kind(&text, style, tag.as_deref());
                // An empty value (`key:` with nothing after it) has no text to point at;
                // problems about it point at its key instead (see `to_json`).
                // (The parser reports it as a plain `~` with an empty span.)
                let empty = span.start.index() == span.end.index() && tag.is_none();
                let text_column = match &kind {
                    Kind::Scalar(Value::String(s)) => self.text_column(s, style, &span),
                    _ => None,
                };
                Ok(self.remember(
                    anchor,
                    Node {
                        pos,
                        kind,
                        size: 1,
                        bytes: text.len(),
                        text_column,
                        empty,
                    },
                ))
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.count(1, 0, pos)?;
                self.enter(pos)?;
                let mut items = Vec::new();
                let (mut size, mut bytes) = (1usize, 0usize);
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item = self.node(event, span)?;
                    size = size.saturating_add(item.node.size);
                    bytes = bytes.saturating_add(item.node.bytes);
                    items.push(item);
                }
                self.depth -= 1;
                let kind = tagged(tag.as_deref(), "seq", Kind::Seq(items));
                Ok(self.remember(anchor, Node::collection(pos, kind, size, bytes)))
            }
            Event::MappingStart(_, anchor, tag) => {
                self.count(1, 0, pos)?;
                self.enter(pos)?;
                let mut entries = Vec::new();
                let (mut size, mut bytes) = (1usize, 0usize);
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.key(event, span)?;
                    if let Key::Text { text, .. } = &key {
                        bytes = bytes.saturating_add(text.len());
                    }
                    let (event, span) = self.next()?;
                    let value = self.node(event, span)?;
                    size = size.saturating_add(value.node.size);
                    bytes = bytes.saturating_add(value.node.bytes);
                    entries.push((key, value));
                }
                self.depth -= 1;
                let kind = tagged(tag.as_deref(), "map", Kind::Map(entries));
                Ok(self.remember(anchor, Node::collection(pos, kind, size, bytes)))
            }
            Event::Alias(id) => match self.anchors.get(&id).map(Rc::clone) {
                Some(target) => {
                    self.count(target.size, target.bytes, pos)?;
                    Ok(Use {
                        node: target,
                        alias_at: Some(pos),
                    })
                }
                None => Ok(Use::written(Node {
                    pos,
                    kind: Kind::Bad(
                        "this alias refers to a node that contains it, which is not allowed".into(),
                    ),
                    size: 1,
                    bytes: 0,
                    text_column: None,
                    empty: false,
                })),
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
                self.count(0, text.len(), pos)?;
                let text = text.into_owned();
                if anchor != 0 {
                    self.anchors.insert(
                        anchor,
                        Rc::new(Node {
                            pos,
                            kind: Kind::Scalar(Value::String(text.clone())),
                            size: 1,
                            bytes: text.len(),
                            text_column: None,
                            empty: false,
                        }),
                    );
                }
                Ok(Key::Text { text, pos })
            }
            Event::Alias(id) => match self.anchors.get(&id).map(Rc::clone) {
                Some(target) => match &target.kind {
                    Kind::Scalar(v) => {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        self.count(0, text.len(), pos)?;
                        Ok(Key::Text { text, pos })
                    }
                    _ => Ok(Key::Bad {
                        message: "a key must be plain text, not an alias to a list or mapping"
                            .into(),
                        pos,
                    }),
                },
                None => Ok(Key::Bad {
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

    /// Wraps a node written in the document, recording it under `anchor` (shared, not copied).
    fn remember(&mut self, anchor: usize, node: Node) -> Use {
        let used = Use::written(node);
        if anchor != 0 {
            self.anchors.insert(anchor, Rc::clone(&used.node));
        }
        used
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

/// `kind`, or what is wrong with the tag of a list (`expected` `seq`) or mapping (`map`).
fn tagged(tag: Option<&Tag>, expected: &str, kind: Kind) -> Kind {
    collection_tag_problem(tag, expected).map_or(kind, Kind::Bad)
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

/// Converts a node to JSON and the tree of its positions. `alias_at` is where the alias that
/// brought the node here was written: everything inside it is reported there.
fn to_json(
    node: &Node,
    key: Option<Pos>,
    alias_at: Option<Pos>,
    path: &mut Vec<Seg>,
    out: &mut Collector,
) -> (Value, LocTree) {
    let pos = alias_at.unwrap_or(node.pos);
    let value_pos = match key {
        Some(key_pos) if node.empty => key_pos,
        _ => pos,
    };
    let loc = Loc {
        key,
        value: value_pos,
        text_column: if alias_at.is_some() {
            None
        } else {
            node.text_column
        },
    };
    let (value, children) = match &node.kind {
        Kind::Scalar(v) => (v.clone(), Children::None),
        Kind::Bad(message) => {
            out.add(value_pos, path, Slot::Value, message.clone());
            (Value::Null, Children::None)
        }
        Kind::Seq(items) => {
            let mut array = Vec::with_capacity(items.len());
            let mut locs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                let (v, l) = to_json(&item.node, None, alias_at.or(item.alias_at), path, out);
                path.pop();
                array.push(v);
                locs.push(l);
            }
            (Value::Array(array), Children::Seq(locs))
        }
        Kind::Map(entries) => {
            let mut map = serde_json::Map::new();
            let mut locs = HashMap::new();
            let mut first_seen: HashMap<&str, Pos> = HashMap::new();
            for (key, value) in entries {
                match key {
                    Key::Bad { message, pos: p } => {
                        out.add(alias_at.unwrap_or(*p), path, Slot::Other, message.clone());
                    }
                    Key::Text { text, pos: p } => {
                        let key_pos = alias_at.unwrap_or(*p);
                        if let Some(first) = first_seen.get(text.as_str()) {
                            out.add(
                                key_pos,
                                path,
                                Slot::Other,
                                format!(
                                    "duplicate key {text:?} (first defined at line {})",
                                    first.line
                                ),
                            );
                            continue;
                        }
                        first_seen.insert(text, key_pos);
                        path.push(Seg::Key(text.clone()));
                        let (v, l) = to_json(
                            &value.node,
                            Some(key_pos),
                            alias_at.or(value.alias_at),
                            path,
                            out,
                        );
                        path.pop();
                        map.insert(text.clone(), v);
                        locs.insert(text.clone(), l);
                    }
                }
            }
            (Value::Object(map), Children::Map(locs))
        }
    };
    (value, LocTree { loc, children })
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

    /// Issue 7, item 1: anchored nodes were deep-copied when recorded, so ~250 nested anchored
    /// lists around one long list cost 250 copies of it (gigabytes) without any alias.
    #[test]
    fn nested_anchored_lists_are_refused_at_the_nesting_limit_without_copying() {
        let mut text = String::from("a: ");
        for i in 0..250 {
            text.push_str(&format!("&a{i} ["));
        }
        text.push_str(&vec!["x"; 60_000].join(", "));
        text.push_str(&"]".repeat(250));
        text.push('\n');
        let started = std::time::Instant::now();
        let found = problems(&text);
        // The root mapping is level 1, so the 32nd list is the one too deep: its `[` follows
        // `a: ` and 31 times `&aN [` (10 with one digit, 21 with two), then `&a31 `.
        let column = 4 + 10 * 5 + 21 * 6 + 5;
        assert_eq!(
            found,
            format!(
                "t.yaml:1:{column}: lists and mappings are nested more than 32 levels deep here; \
                 a fleet file needs far fewer"
            )
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_long_text_aliased_many_times_is_stopped_by_the_text_budget() {
        let big = "x".repeat(1024 * 1024);
        let mut text = format!("a: &big {big}\nb: [");
        text.push_str(&vec!["*big"; 20].join(", "));
        text.push_str("]\n");
        // The anchored text, the keys and 15 aliases pass 16 MiB: the 15th alias is refused.
        let column = "b: [".len() + 1 + 14 * "*big, ".len();
        assert_eq!(
            problems(&text),
            format!(
                "t.yaml:2:{column}: the document expands to more than 16 MiB of text (too many \
                 aliases?)"
            )
        );
    }

    #[test]
    fn nesting_is_limited_in_block_style_too() {
        let mut text = String::new();
        for depth in 0..40 {
            text.push_str(&"  ".repeat(depth));
            text.push_str(&format!("k{depth}:\n"));
        }
        text.push_str(&"  ".repeat(40));
        text.push_str("v: 1\n");
        assert_eq!(
            problems(&text),
            "t.yaml:33:65: lists and mappings are nested more than 32 levels deep here; a fleet \
             file needs far fewer"
        );
        // 32 levels are fine: the root mapping and 31 nested ones.
        let ok: String = (0..31)
            .map(|d| format!("{}k{d}:\n", "  ".repeat(d)))
            .collect::<String>()
            + &"  ".repeat(31)
            + "v: 1\n";
        parse_ok(&ok);
    }

    #[test]
    fn positions_inside_nested_aliases_point_at_the_outermost_alias() {
        let p = parse_ok("a: &x {b: &y [1, 2]}\nc: &z {d: *y}\ne: *z\n");
        let at = |path: &[Seg]| p.loc(path).unwrap().value;
        let k = |s: &str| Seg::Key(s.into());
        assert_eq!(
            at(&[k("c"), k("d"), Seg::Index(1)]),
            Pos {
                line: 2,
                column: 11
            }
        );
        assert_eq!(
            at(&[k("e"), k("d"), Seg::Index(0)]),
            Pos { line: 3, column: 4 }
        );
        assert_eq!(p.value["e"], json!({"d": [1, 2]}));
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
