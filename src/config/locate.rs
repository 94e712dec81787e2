//! The position pass: walk the YAML event stream once and record where every mapping key and
//! every sequence item starts, keyed by its field path (`pipeline[3].with.uri`).
//!
//! serde_yaml keeps no positions after decoding, so this pass runs beside it on the same text
//! with yaml-rust2's event parser. It is also the guard in front of the decoder: it reports YAML
//! syntax errors, duplicate keys (which melange's yaml.v3 decoder rejects too), more than one
//! document, an empty file, a top level that is not a mapping, absurd nesting and alias bombs,
//! each with a line and column, before serde_yaml ever sees the text.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use crate::diag::Position;

/// Deepest nesting of mappings and sequences accepted. Real build files stay under 12 levels;
/// the limit sits well below serde_yaml's own recursion limit (128) so the error is ours.
pub const MAX_DEPTH: usize = 64;

/// Most YAML nodes the file may stand for once every alias is expanded. A large build file has
/// a few thousand nodes; a "billion laughs" file has 10^9 from a few hundred bytes.
pub const MAX_EXPANDED_NODES: u64 = 100_000;

/// Most scalar text the file may stand for once every alias is expanded: a long string
/// repeated through aliases under the node limit (a 1 MB string times 50000 `*a`) is an alias
/// bomb too. Without aliases the text is never more than the file itself.
pub const MAX_EXPANDED_BYTES: u64 = crate::limits::MAX_CONFIG_BYTES;

/// Nodes and scalar bytes of a subtree, aliases expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: u64,
    bytes: u64,
}

impl Size {
    fn node(bytes: usize) -> Size {
        Size {
            nodes: 1,
            bytes: bytes as u64,
        }
    }

    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// Where each field of the file starts, keyed by field path (`pipeline[3].with.uri`).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    entries: HashMap<String, Position>,
}

impl SpanIndex {
    /// The position of the field (its key, or the item for a sequence element), if present.
    pub fn position(&self, field_path: &str) -> Option<Position> {
        self.entries.get(field_path).copied()
    }

    /// The position of the field, or else of its closest ancestor that has one
    /// (`pipeline[2].with.uri` falls back to `pipeline[2].with`, then `pipeline[2]`, ...).
    pub fn nearest(&self, field_path: &str) -> Option<Position> {
        let mut path = field_path;
        loop {
            if let Some(p) = self.position(path) {
                return Some(p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// Whether the file wrote this field at all (a key with a null value counts).
    pub fn contains(&self, field_path: &str) -> bool {
        self.entries.contains_key(field_path)
    }

    /// How many positions were recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no position was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A problem the position pass found: where, which field (if any), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is (1-based).
    pub position: Position,
    /// The field path it is about, when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Walk `text` and return the position of every field, or the problems that make the file
/// unusable. Duplicate keys are all collected; any other problem stops the walk.
pub fn locate(text: &str) -> Result<SpanIndex, Vec<Problem>> {
    let mut walker = Walker::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                let m = e.marker();
                walker.problems.push(Problem {
                    position: pos(m),
                    field: None,
                    message: format!("YAML syntax error: {}", e.info()),
                    hint: Some(
                        "check the indentation and quoting on this line and the one before it"
                            .into(),
                    ),
                });
                return Err(walker.problems);
            }
        };
        if event == Event::StreamEnd {
            break;
        }
        if let Err(stop) = walker.event(event, mark) {
            walker.problems.push(stop);
            return Err(walker.problems);
        }
    }
    if !walker.problems.is_empty() {
        return Err(walker.problems);
    }
    if !walker.saw_content {
        return Err(vec![Problem {
            position: Position { line: 1, column: 1 },
            field: None,
            message: "the file is empty (no YAML content, only comments or blank lines)".into(),
            hint: Some("a build file needs at least `package:` with `name:` and `version:`".into()),
        }]);
    }
    Ok(walker.spans)
}

/// The first size problem of `text` (nesting, alias expansion, node count), ignoring every
/// other problem: for YAML that is decoded leniently, such as `uses:` definitions.
pub fn size_problem(text: &str) -> Option<Problem> {
    let problems = locate(text).err()?;
    problems.into_iter().find(|p| {
        p.message.starts_with("nesting is deeper than")
            || p.message.starts_with("the aliases in this file expand")
            || p.message.starts_with("the file holds more than")
    })
}

fn pos(m: &Marker) -> Position {
    // yaml-rust2 lines are 1-based and columns 0-based.
    Position {
        line: m.line(),
        column: m.col() + 1,
    }
}

/// One open mapping or sequence.
#[derive(Debug)]
struct Frame {
    /// Length of the walker's path string at this collection (its own field path).
    base: usize,
    kind: FrameKind,
    /// Nodes and text under this collection, aliases expanded (for the alias-bomb guard).
    size: Size,
    /// The anchor this collection defines, 0 for none.
    anchor: usize,
}

#[derive(Debug)]
enum FrameKind {
    Map {
        /// True when the next node is a key.
        expecting_key: bool,
        /// Keys seen so far, with where each was first written (duplicate detection).
        keys: Vec<(String, Position)>,
    },
    Seq {
        index: usize,
    },
}

#[derive(Debug, Default)]
struct Walker {
    spans: SpanIndex,
    problems: Vec<Problem>,
    /// The field path of the node being read.
    path: String,
    stack: Vec<Frame>,
    /// Subtree size of every finished anchored node, by anchor id.
    anchor_sizes: HashMap<usize, Size>,
    /// Nodes and text read so far with aliases expanded.
    expanded: Size,
    /// Nodes and text read so far as written (an alias is one node): when these pass the
    /// limit the file is simply too large, not an alias bomb.
    written: Size,
    documents: usize,
    saw_content: bool,
    /// A block mapping that is a sequence item: yaml-rust2 marks it at its first value, so the
    /// item's position is taken from the next event (its first key) instead.
    pending_item: Option<Marker>,
}

impl Walker {
    fn event(&mut self, event: Event, mark: Marker) -> Result<(), Problem> {
        if let Some(item_mark) = self.pending_item.take() {
            let first = if mark.index() < item_mark.index() {
                mark
            } else {
                item_mark
            };
            self.spans.entries.insert(self.path.clone(), pos(&first));
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem {
                        position: pos(&mark),
                        field: None,
                        message: "a second YAML document starts here; a build file holds one"
                            .into(),
                        hint: Some(
                            "remove the `---` line and what follows, or move it to its own file"
                                .into(),
                        ),
                    });
                }
                Ok(())
            }
            Event::Scalar(text, _style, anchor, _tag) => {
                if self.stack.is_empty() {
                    return self.root_scalar(&text, mark);
                }
                self.node_start(&mark, Some(&text))?;
                let size = Size::node(text.len());
                self.node_done(size, size, size, anchor, &mark)
            }
            Event::Alias(id) => {
                if self.stack.is_empty() {
                    return Err(root_not_mapping("an alias", mark));
                }
                self.node_start(&mark, Some("*alias"))?;
                let Some(&size) = self.anchor_sizes.get(&id) else {
                    return Err(Problem {
                        position: pos(&mark),
                        field: self.field(),
                        message: "this alias refers to a node that contains it".into(),
                        hint: Some("aliases cannot be recursive; write the value out".into()),
                    });
                };
                self.node_done(size, size, Size::node(0), 0, &mark)
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if self.stack.is_empty() {
                    if !is_map {
                        return Err(root_not_mapping("a list", mark));
                    }
                    self.saw_content = true;
                } else {
                    let item = self.node_start(&mark, None)?;
                    if item && is_map {
                        self.pending_item = Some(mark);
                    } else if item {
                        self.spans.entries.insert(self.path.clone(), pos(&mark));
                    }
                }
                if self.stack.len() >= MAX_DEPTH {
                    // No field path: at this depth it would be a screenful of `[0]`.
                    return Err(Problem {
                        position: pos(&mark),
                        field: None,
                        message: format!("nesting is deeper than {MAX_DEPTH} levels"),
                        hint: Some("a build file never needs this much nesting; is the file generated wrongly?".into()),
                    });
                }
                let kind = if is_map {
                    FrameKind::Map {
                        expecting_key: true,
                        keys: Vec::new(),
                    }
                } else {
                    FrameKind::Seq { index: 0 }
                };
                self.stack.push(Frame {
                    base: self.path.len(),
                    kind,
                    size: Size::node(0),
                    anchor,
                });
                Ok(())
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = self.stack.pop().expect("parser balances collections");
                if self.stack.is_empty() {
                    return Ok(());
                }
                self.path.truncate(frame.base);
                // The children were counted as they ended; count the collection itself.
                self.node_done(
                    frame.size,
                    Size::node(0),
                    Size::node(0),
                    frame.anchor,
                    &mark,
                )
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        }
    }

    /// The top level is a scalar: null means an empty document, anything else is wrong.
    fn root_scalar(&mut self, text: &str, mark: Marker) -> Result<(), Problem> {
        let null = matches!(text, "" | "~" | "null" | "Null" | "NULL");
        if null {
            return Ok(());
        }
        Err(root_not_mapping("a single value", mark))
    }

    /// A node begins inside the open collection: set the path to it and record its position.
    /// Returns whether the node is a sequence item.
    fn node_start(&mut self, mark: &Marker, key_text: Option<&str>) -> Result<bool, Problem> {
        let frame = self.stack.last_mut().expect("inside a collection");
        match &mut frame.kind {
            FrameKind::Seq { index } => {
                self.path.truncate(frame.base);
                push_index(&mut self.path, *index);
                if key_text.is_some() {
                    self.spans.entries.insert(self.path.clone(), pos(mark));
                }
                Ok(true)
            }
            FrameKind::Map {
                expecting_key: true,
                keys,
            } => {
                self.path.truncate(frame.base);
                if !self.path.is_empty() {
                    self.path.push('.');
                }
                // A mapping or sequence used as a key: serde's decoder reports it; give it a
                // placeholder path so the walk stays consistent.
                let key = key_text.unwrap_or("?");
                self.path.push_str(key);
                let here = pos(mark);
                if key_text.is_some() {
                    if let Some((_, first)) = keys.iter().find(|(k, _)| k == key) {
                        self.problems.push(Problem {
                            position: here,
                            field: Some(self.path.clone()),
                            message: format!(
                                "duplicate key `{key}` (first written at line {})",
                                first.line
                            ),
                            hint: Some(
                                "keep one of the two; melange rejects duplicate keys".into(),
                            ),
                        });
                    } else {
                        keys.push((key.to_owned(), here));
                    }
                    self.spans.entries.insert(self.path.clone(), here);
                }
                Ok(false)
            }
            FrameKind::Map {
                expecting_key: false,
                ..
            } => Ok(false),
        }
    }

    /// A node of `size` (aliases expanded) ended: count the `new` part not counted yet (and
    /// `written`, the same as written: an alias is one node of no text), remember an anchor's
    /// size, and advance the open collection.
    fn node_done(
        &mut self,
        size: Size,
        new: Size,
        written: Size,
        anchor: usize,
        mark: &Marker,
    ) -> Result<(), Problem> {
        self.expanded.add(new);
        self.written.add(written);
        if self.written.nodes > MAX_EXPANDED_NODES {
            return Err(Problem {
                position: pos(mark),
                field: self.field(),
                message: format!(
                    "the file holds more than {MAX_EXPANDED_NODES} values; no build file is this large"
                ),
                hint: Some("is the file generated wrongly?".into()),
            });
        }
        let too_many = self.expanded.nodes > MAX_EXPANDED_NODES;
        let too_long = self.expanded.bytes > MAX_EXPANDED_BYTES;
        if too_many || too_long {
            let what = if too_many {
                format!("{MAX_EXPANDED_NODES} values")
            } else {
                format!(
                    "{} of text",
                    crate::bounded_read::human_bytes(MAX_EXPANDED_BYTES)
                )
            };
            return Err(Problem {
                position: pos(mark),
                field: self.field(),
                message: format!(
                    "the aliases in this file expand to more than {what} (an alias bomb?)"
                ),
                hint: Some("write the repeated values out, or use fewer nested aliases".into()),
            });
        }
        if anchor != 0 {
            self.anchor_sizes.insert(anchor, size);
        }
        let frame = self.stack.last_mut().expect("inside a collection");
        frame.size.add(size);
        match &mut frame.kind {
            FrameKind::Seq { index } => *index += 1,
            FrameKind::Map { expecting_key, .. } => *expecting_key = !*expecting_key,
        }
        Ok(())
    }

    fn field(&self) -> Option<String> {
        (!self.path.is_empty()).then(|| self.path.clone())
    }
}

fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{index}]");
}

fn root_not_mapping(found: &str, mark: Marker) -> Problem {
    Problem {
        position: pos(&mark),
        field: None,
        message: format!("the top level of a build file must be a mapping, found {found}"),
        hint: Some("start the file with `package:` and the other top-level keys".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn records_keys_and_items_by_field_path() {
        let text = "package:\n  name: x\npipeline:\n  - uses: fetch\n    with:\n      uri: u\n  - runs: |\n      make\n    pipeline:\n      - runs: a\n      - {uses: b}\n";
        let spans = locate(text).unwrap();
        assert_eq!(spans.position("package"), at(1, 1));
        assert_eq!(spans.position("package.name"), at(2, 3));
        assert_eq!(spans.position("pipeline[0]"), at(4, 5));
        assert_eq!(spans.position("pipeline[0].uses"), at(4, 5));
        assert_eq!(spans.position("pipeline[0].with.uri"), at(6, 7));
        assert_eq!(spans.position("pipeline[1]"), at(7, 5));
        assert_eq!(spans.position("pipeline[1].pipeline[0].runs"), at(10, 9));
        assert_eq!(spans.position("pipeline[1].pipeline[1]"), at(11, 9));
        assert_eq!(spans.position("pipeline[1].pipeline[1].uses"), at(11, 10));
        assert_eq!(spans.position("pipeline[2]"), None);
    }

    #[test]
    fn scalar_items_and_nearest_ancestor() {
        let spans = locate("a:\n  list:\n    - x\n    - y\n").unwrap();
        assert_eq!(spans.position("a.list[1]"), at(4, 7));
        assert_eq!(spans.nearest("a.list[1].deeper.still"), at(4, 7));
        assert_eq!(spans.nearest("a.other"), at(1, 1));
        assert_eq!(spans.nearest("zzz"), None);
    }

    #[test]
    fn collects_every_duplicate_key() {
        let problems = locate("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n").unwrap_err();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].position, Position { line: 3, column: 1 });
        assert_eq!(problems[0].field.as_deref(), Some("a"));
        assert!(problems[0].message.contains("first written at line 1"));
        assert_eq!(problems[1].field.as_deref(), Some("c.d"));
    }

    #[test]
    fn same_key_in_sibling_items_is_not_a_duplicate() {
        assert!(locate("p:\n  - runs: a\n  - runs: b\n").is_ok());
    }

    #[test]
    fn empty_and_comment_only_files() {
        for text in ["", "\n\n", "# just a comment\n", "---\n", "~\n"] {
            let p = locate(text).unwrap_err();
            assert!(p[0].message.contains("empty"), "{text:?}: {p:?}");
        }
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        assert!(locate("- a\n").unwrap_err()[0].message.contains("a list"));
        assert!(
            locate("hello\n").unwrap_err()[0]
                .message
                .contains("single value")
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let p = locate("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(p[0].message.starts_with("YAML syntax error"));
        assert!(p[0].position.line >= 1);
    }

    #[test]
    fn second_document_is_refused() {
        let p = locate("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(p[0].position.line, 2);
    }

    #[test]
    fn alias_bomb_stops_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let p = locate(&text).unwrap_err();
        assert!(p[0].message.contains("alias bomb"), "{p:?}");
    }

    #[test]
    fn aliased_long_strings_are_a_bomb_under_the_node_limit() {
        let mut text = format!("a: &s '{}'\nb: [", "x".repeat(1 << 20));
        text.push_str(&vec!["*s"; 1000].join(", "));
        text.push_str("]\n");
        let p = locate(&text).unwrap_err();
        assert_eq!(
            p[0].message,
            "the aliases in this file expand to more than 16 MiB of text (an alias bomb?)"
        );
        assert_eq!(p[0].field.as_deref(), Some("b[14]"));
    }

    #[test]
    fn many_plain_values_are_not_called_an_alias_bomb() {
        let text = format!("a:\n{}", "  - x\n".repeat(100_001));
        let p = locate(&text).unwrap_err();
        assert_eq!(
            p[0].message,
            "the file holds more than 100000 values; no build file is this large"
        );
    }

    #[test]
    fn a_large_file_with_one_alias_is_not_called_an_alias_bomb() {
        let text = format!("x: &x a\ny: *x\na:\n{}", "  - x\n".repeat(100_001));
        let p = locate(&text).unwrap_err();
        assert!(
            p[0].message.starts_with("the file holds more than"),
            "{p:?}"
        );
    }

    #[test]
    fn modest_aliases_are_fine() {
        let spans = locate("x: &v {a: 1}\ny: *v\n").unwrap();
        assert_eq!(spans.position("y"), at(2, 1));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        let p = locate(&deep).unwrap_err();
        assert!(p[0].message.contains("nesting"), "{p:?}");
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&" ".repeat(i * 2));
            block.push_str("k:\n");
        }
        assert!(locate(&block).unwrap_err()[0].message.contains("nesting"));
    }
}
