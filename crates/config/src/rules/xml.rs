//! A small element tree with line numbers, built with quick-xml's event reader.
//!
//! quick-xml's serde layer reports errors without positions, and the rules file must be refused
//! with `file:line`; so the file is first turned into this tree (start-tag line of every element
//! and attribute), then interpreted by `parse`. Only what a rules file needs is kept: element
//! names, attributes, text (entities and character references resolved, CDATA included) and
//! children; comments, processing instructions and the declaration are dropped.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    /// 1-based line of the `<`.
    pub line: usize,
    /// In document order.
    pub attributes: Vec<(String, String)>,
    /// All the text directly inside the element, concatenated (not trimmed).
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A document that is not well-formed: one message at one line (parsing cannot go on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Byte offset → 1-based line.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    fn line(&self, offset: u64) -> usize {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// Parses a whole document and returns its root element.
pub(crate) fn parse_document(text: &str) -> Result<Element, SyntaxError> {
    let lines = Lines::new(text);
    let mut reader = Reader::from_str(text);
    // Whitespace is kept so that the position before each event is exactly its first byte.
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = reader.buffer_position();
        let event = reader.read_event().map_err(|e| SyntaxError {
            line: lines.line(reader.error_position()),
            message: format!("XML syntax error: {e}"),
        })?;
        let line = lines.line(before);
        let err = |message: String| SyntaxError { line, message };
        match event {
            Event::Start(start) => stack.push(element(&start, line).map_err(err)?),
            Event::Empty(start) => {
                let e = element(&start, line).map_err(err)?;
                close(&mut stack, &mut root, e, line)?;
            }
            Event::End(_) => {
                // quick-xml has already checked that the name matches the open element.
                let e = stack
                    .pop()
                    .ok_or_else(|| err("unexpected end tag".into()))?;
                close(&mut stack, &mut root, e, line)?;
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                // Stray text is reported where it starts, not where the whitespace before it does.
                let lead = content.len() - content.trim_start().len();
                let line = lines.line(before + lead as u64);
                push_text(&mut stack, &content, line)?;
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content, line)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match resolve_predefined_entity(&r) {
                        Some(s) => s.to_string(),
                        None => return Err(err(format!("unknown entity &{};", &*r))),
                    },
                    Err(e) => return Err(err(format!("bad character reference &{};: {e}", &*r))),
                };
                push_text(&mut stack, &resolved, line)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(SyntaxError {
            line: open.line,
            message: format!("element <{}> is never closed", open.name),
        });
    }
    root.ok_or(SyntaxError {
        line: 1,
        message: "no root element".into(),
    })
}

fn element(start: &BytesStart<'_>, line: usize) -> Result<Element, String> {
    let name = start.name().as_ref().to_string();
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("<{name}>: bad attribute: {e}"))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| format!("<{name}>: bad attribute value: {e}"))?;
        attributes.push((attr.key.as_ref().to_string(), value.into_owned()));
    }
    Ok(Element {
        name,
        line,
        attributes,
        text: String::new(),
        children: Vec::new(),
    })
}

fn close(
    stack: &mut [Element],
    root: &mut Option<Element>,
    e: Element,
    line: usize,
) -> Result<(), SyntaxError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(e),
        None if root.is_none() => *root = Some(e),
        None => {
            return Err(SyntaxError {
                line,
                message: "more than one root element".into(),
            })
        }
    }
    Ok(())
}

fn push_text(stack: &mut [Element], text: &str, line: usize) -> Result<(), SyntaxError> {
    match stack.last_mut() {
        Some(e) => e.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => {
            return Err(SyntaxError {
                line,
                message: "text outside the root element".into(),
            })
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_elements_and_text() {
        let doc = "<?xml version=\"1.0\"?>\n<root>\n  <!-- c -->\n  <a x=\"1\" y='2'>t&amp;u&#65;<![CDATA[<z>]]></a>\n  <b\n   k=\"v\"/>\n</root>\n";
        let root = parse_document(doc).unwrap();
        assert_eq!((root.name.as_str(), root.line), ("root", 2));
        assert_eq!(root.children.len(), 2);
        let a = &root.children[0];
        assert_eq!(a.line, 4);
        assert_eq!(a.attribute("x"), Some("1"));
        assert_eq!(a.attribute("y"), Some("2"));
        assert_eq!(a.text, "t&uA<z>");
        let b = &root.children[1];
        assert_eq!((b.name.as_str(), b.line), ("b", 5));
        assert_eq!(b.attribute("k"), Some("v"));
        assert_eq!(b.attribute("x"), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse_document("<root>\n<a>\n</b>\n</root>").unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
        let e = parse_document("<root>\n<a>\n").unwrap_err();
        assert!(e.line >= 1, "{e:?}");
        let e = parse_document("<root>\n&nope;</root>").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.message.contains("nope"), "{e:?}");
        let e = parse_document("<root/>\n<other/>").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_document("\n\n").unwrap_err();
        assert_eq!(e.message, "no root element");
        let e = parse_document("<root/>\nx").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn line_lookup() {
        let l = Lines::new("a\nbc\n\nd");
        assert_eq!(l.line(0), 1);
        assert_eq!(l.line(1), 1);
        assert_eq!(l.line(2), 2);
        assert_eq!(l.line(5), 3);
        assert_eq!(l.line(6), 4);
        assert_eq!(l.line(100), 4);
    }
}
