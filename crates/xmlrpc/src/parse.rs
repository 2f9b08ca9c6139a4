//! Decoding: a recursive-descent parser over quick-xml's event stream.
//!
//! Bodies come from the network, so the parser assumes hostility:
//! - a `<!DOCTYPE>` is refused outright, which rules out entity-expansion bombs and external
//!   entities (quick-xml never expands entities itself; we resolve only the five predefined
//!   ones and character references, anything else is an error);
//! - arrays/structs nest at most [`MAX_NESTING`] deep, bounding recursion;
//! - every failure is a [`ParseError`] with a byte position, never a panic.
//!
//! Text handling follows what real clients send (docs/supvisors.md, 'XML-RPC wire compatibility'):
//! text is the concatenation of `Text`, `CData` and reference events (quick-xml splits `a &lt; b`
//! in three), whitespace is kept inside `<string>` and untyped `<value>`s and skipped only between
//! elements; `<x/>` is expanded to start+end so `<string/>` is just an empty string.

use std::borrow::Cow;

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::{FaultResponse, MethodCall, ParseError, Value};

/// Deepest accepted nesting of arrays and structs inside one value. Supervisor's answers nest
/// three levels at most; 64 is generous for clients and still far from exhausting the stack.
pub const MAX_NESTING: usize = 64;

/// Decodes a `<methodCall>` (server side).
///
/// `<params>` may be absent (zero parameters, as supervisord allows). Fails when the body is not
/// well-formed UTF-8 XML, has a DTD, uses an unknown entity, nests too deep, carries a value that
/// does not fit its type (an `<int>` outside 32 bits, a `<boolean>` other than `0`/`1`, bad
/// base64, a bad `<double>`), or when `<methodName>` is missing or empty (supervisord answers
/// HTTP 400 to both, so callers need not tell them apart).
pub fn parse_method_call(body: &[u8]) -> Result<MethodCall, ParseError> {
    let mut p = Parser::new(body)?;
    p.expect_start(Tag::MethodCall)?;
    let name_tok = p.expect_start(Tag::MethodName)?;
    let name = p.read_text()?.into_owned();
    if name.is_empty() {
        return Err(ParseError {
            position: name_tok.pos,
            reason: "empty <methodName>".into(),
        });
    }
    let mut params = Vec::new();
    p.skip_ws()?;
    if p.peek_is_start(Tag::Params)? {
        p.next()?;
        loop {
            p.skip_ws()?;
            let tok = p.next()?;
            match tok.kind {
                Kind::Start(Tag::Param) => {
                    params.push(p.param_body()?);
                }
                Kind::End => break,
                _ => return Err(p.unexpected(&tok, "<param> or </params>")),
            }
        }
    }
    p.expect_end()?;
    p.expect_eof()?;
    Ok(MethodCall { name, params })
}

/// Decodes a `<methodResponse>` (client side): `Ok(Ok(value))` for a single-param answer,
/// `Ok(Err(fault))` for a `<fault>`, `Err` when the body is not a valid response (including a
/// response with zero or several params, which Supervisor never sends).
pub fn parse_response(body: &[u8]) -> Result<Result<Value, FaultResponse>, ParseError> {
    let mut p = Parser::new(body)?;
    p.expect_start(Tag::MethodResponse)?;
    p.skip_ws()?;
    let tok = p.next()?;
    let result = match tok.kind {
        Kind::Start(Tag::Params) => {
            p.expect_start(Tag::Param)?;
            let value = p.param_body()?;
            p.expect_end()?;
            Ok(value)
        }
        Kind::Start(Tag::Fault) => {
            let value_tok = p.expect_start(Tag::Value)?;
            let value = p.value_body(0)?;
            p.expect_end()?;
            Err(fault_from_value(&value).ok_or_else(|| ParseError {
                position: value_tok.pos,
                reason: "<fault> is not a struct with int faultCode and string faultString".into(),
            })?)
        }
        _ => return Err(p.unexpected(&tok, "<params> or <fault>")),
    };
    p.expect_end()?;
    p.expect_eof()?;
    Ok(result)
}

fn fault_from_value(value: &Value) -> Option<FaultResponse> {
    Some(FaultResponse {
        code: value.get("faultCode")?.as_i32()?,
        string: value.get("faultString")?.as_str()?.to_string(),
    })
}

/// The element names of XML-RPC, matched on their local name (Python strips prefixes such as
/// `ex:` too). Any other element is an error wherever it appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    Int,
    I4,
    I8,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Nil,
    Array,
    Data,
    Struct,
    Member,
    Name,
}

impl Tag {
    fn from_local_name(name: &str) -> Option<Tag> {
        Some(match name {
            "methodCall" => Tag::MethodCall,
            "methodName" => Tag::MethodName,
            "methodResponse" => Tag::MethodResponse,
            "params" => Tag::Params,
            "param" => Tag::Param,
            "fault" => Tag::Fault,
            "value" => Tag::Value,
            "int" => Tag::Int,
            "i4" => Tag::I4,
            "i8" => Tag::I8,
            "boolean" => Tag::Boolean,
            "string" => Tag::String,
            "double" => Tag::Double,
            "dateTime.iso8601" => Tag::DateTime,
            "base64" => Tag::Base64,
            "nil" => Tag::Nil,
            "array" => Tag::Array,
            "data" => Tag::Data,
            "struct" => Tag::Struct,
            "member" => Tag::Member,
            "name" => Tag::Name,
            _ => return None,
        })
    }

    fn xml_name(self) -> &'static str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::MethodResponse => "methodResponse",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::String => "string",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Nil => "nil",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
        }
    }
}

/// One step of the document, reduced to what the grammar needs. End tags carry no name:
/// quick-xml already checks that they match their start tag.
#[derive(Debug)]
enum Kind<'a> {
    Start(Tag),
    End,
    Text(Cow<'a, str>),
    Eof,
}

#[derive(Debug)]
struct Tok<'a> {
    kind: Kind<'a>,
    /// Byte offset where the event begins, for error messages.
    pos: u64,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    peeked: Option<Tok<'a>>,
}

fn is_xml_ws(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| ParseError {
            position: e.valid_up_to() as u64,
            reason: "body is not valid UTF-8".into(),
        })?;
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text_start = false;
        config.trim_text_end = false;
        Ok(Parser {
            reader,
            peeked: None,
        })
    }

    fn err_at(pos: u64, reason: impl Into<String>) -> ParseError {
        ParseError {
            position: pos,
            reason: reason.into(),
        }
    }

    /// Reads the next grammar token, resolving references and dropping comments, PIs and the
    /// XML declaration.
    fn next(&mut self) -> Result<Tok<'a>, ParseError> {
        if let Some(tok) = self.peeked.take() {
            return Ok(tok);
        }
        loop {
            let pos = self.reader.buffer_position();
            let event = self
                .reader
                .read_event()
                .map_err(|e| Self::err_at(self.reader.error_position(), e.to_string()))?;
            let kind = match event {
                Event::Start(start) => {
                    let local = start.local_name();
                    let name: &str = local.as_ref();
                    match Tag::from_local_name(name) {
                        Some(tag) => Kind::Start(tag),
                        None => return Err(Self::err_at(pos, format!("unknown element <{name}>"))),
                    }
                }
                // Not produced while `expand_empty_elements` is set; kept exhaustive anyway.
                Event::Empty(_) => {
                    return Err(Self::err_at(pos, "unexpected empty element"));
                }
                Event::End(_) => Kind::End,
                Event::Text(text) => Kind::Text(text.xml10_content()),
                Event::CData(cdata) => Kind::Text(cdata.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        Ok(None) => {
                            let name: &str = &reference;
                            match quick_xml::escape::resolve_xml_entity(name) {
                                Some(s) => s.to_string(),
                                None => {
                                    return Err(Self::err_at(
                                        pos,
                                        format!("unknown entity &{name};"),
                                    ))
                                }
                            }
                        }
                        Err(e) => return Err(Self::err_at(pos, e.to_string())),
                    };
                    Kind::Text(Cow::Owned(resolved))
                }
                Event::DocType(_) => {
                    return Err(Self::err_at(pos, "DOCTYPE/DTD is not allowed"));
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => continue,
                Event::Eof => Kind::Eof,
            };
            return Ok(Tok { kind, pos });
        }
    }

    fn peek(&mut self) -> Result<&Tok<'a>, ParseError> {
        if self.peeked.is_none() {
            let tok = self.next()?;
            self.peeked = Some(tok);
        }
        match &self.peeked {
            Some(tok) => Ok(tok),
            None => Err(Self::err_at(
                self.reader.buffer_position(),
                "internal: no token",
            )),
        }
    }

    fn peek_is_start(&mut self, tag: Tag) -> Result<bool, ParseError> {
        Ok(matches!(self.peek()?.kind, Kind::Start(t) if t == tag))
    }

    fn unexpected(&self, tok: &Tok<'_>, wanted: &str) -> ParseError {
        let found = match &tok.kind {
            Kind::Start(tag) => format!("<{}>", tag.xml_name()),
            Kind::End => "an end tag".to_string(),
            Kind::Text(_) => "text".to_string(),
            Kind::Eof => "end of document".to_string(),
        };
        Self::err_at(tok.pos, format!("expected {wanted}, found {found}"))
    }

    /// Skips whitespace between elements; any other text there is an error.
    fn skip_ws(&mut self) -> Result<(), ParseError> {
        loop {
            match &self.peek()?.kind {
                Kind::Text(t) if is_xml_ws(t) => {
                    self.peeked = None;
                }
                Kind::Text(_) => {
                    let pos = self.peek()?.pos;
                    return Err(Self::err_at(pos, "unexpected text between elements"));
                }
                _ => return Ok(()),
            }
        }
    }

    fn expect_start(&mut self, tag: Tag) -> Result<Tok<'a>, ParseError> {
        self.skip_ws()?;
        let tok = self.next()?;
        match tok.kind {
            Kind::Start(t) if t == tag => Ok(tok),
            _ => Err(self.unexpected(&tok, &format!("<{}>", tag.xml_name()))),
        }
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        self.skip_ws()?;
        let tok = self.next()?;
        match tok.kind {
            Kind::End => Ok(()),
            _ => Err(self.unexpected(&tok, "an end tag")),
        }
    }

    fn expect_eof(&mut self) -> Result<(), ParseError> {
        self.skip_ws()?;
        let tok = self.next()?;
        match tok.kind {
            Kind::Eof => Ok(()),
            _ => Err(self.unexpected(&tok, "end of document")),
        }
    }

    /// The text content of the current element up to its end tag, which is consumed.
    /// Child elements are an error.
    fn read_text(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let mut acc: Option<Cow<'a, str>> = None;
        loop {
            let tok = self.next()?;
            match tok.kind {
                Kind::Text(t) => match &mut acc {
                    None => acc = Some(t),
                    Some(a) => a.to_mut().push_str(&t),
                },
                Kind::End => return Ok(acc.unwrap_or(Cow::Borrowed(""))),
                _ => return Err(self.unexpected(&tok, "text or an end tag")),
            }
        }
    }

    /// After `<param>`: its `<value>` and the `</param>`.
    fn param_body(&mut self) -> Result<Value, ParseError> {
        self.expect_start(Tag::Value)?;
        let value = self.value_body(0)?;
        self.expect_end()?;
        Ok(value)
    }

    /// After `<value>`: either text only (an untyped string, kept verbatim) or one typed
    /// element surrounded by whitespace; consumes `</value>`.
    fn value_body(&mut self, nesting: usize) -> Result<Value, ParseError> {
        let mut text: Option<Cow<'a, str>> = None;
        loop {
            let tok = self.next()?;
            match tok.kind {
                Kind::Text(t) => match &mut text {
                    None => text = Some(t),
                    Some(a) => a.to_mut().push_str(&t),
                },
                Kind::End => {
                    return Ok(Value::String(text.map(Cow::into_owned).unwrap_or_default()));
                }
                Kind::Start(tag) => {
                    if text.as_deref().is_some_and(|t| !is_xml_ws(t)) {
                        return Err(Self::err_at(tok.pos, "text mixed with a typed value"));
                    }
                    let value = self.typed_body(tag, tok.pos, nesting)?;
                    self.expect_end()?;
                    return Ok(value);
                }
                Kind::Eof => return Err(self.unexpected(&tok, "</value>")),
            }
        }
    }

    /// After `<tag>` inside a `<value>`: the typed content and its end tag.
    fn typed_body(&mut self, tag: Tag, pos: u64, nesting: usize) -> Result<Value, ParseError> {
        let bad = |what: &str, text: &str| {
            let shown: String = text.chars().take(40).collect();
            Self::err_at(pos, format!("invalid {what} {shown:?}"))
        };
        Ok(match tag {
            Tag::Int | Tag::I4 => {
                let t = self.read_text()?;
                Value::Int(t.trim().parse().map_err(|_| bad("32-bit int", &t))?)
            }
            Tag::I8 => {
                let t = self.read_text()?;
                Value::I8(t.trim().parse().map_err(|_| bad("i8", &t))?)
            }
            Tag::Boolean => {
                let t = self.read_text()?;
                match &*t {
                    "1" => Value::Bool(true),
                    "0" => Value::Bool(false),
                    _ => return Err(bad("boolean (want 0 or 1)", &t)),
                }
            }
            Tag::String => Value::String(self.read_text()?.into_owned()),
            Tag::Double => {
                let t = self.read_text()?;
                Value::Double(t.trim().parse().map_err(|_| bad("double", &t))?)
            }
            Tag::DateTime => Value::DateTime(self.read_text()?.trim().to_string()),
            Tag::Base64 => {
                let t = self.read_text()?;
                let compact: Vec<u8> = t.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                Value::Base64(BASE64.decode(&compact).map_err(|_| bad("base64", &t))?)
            }
            Tag::Nil => {
                let t = self.read_text()?;
                if !is_xml_ws(&t) {
                    return Err(bad("nil", &t));
                }
                Value::Nil
            }
            Tag::Array => {
                check_nesting(nesting, pos)?;
                self.expect_start(Tag::Data)?;
                let mut items = Vec::new();
                loop {
                    self.skip_ws()?;
                    let tok = self.next()?;
                    match tok.kind {
                        Kind::Start(Tag::Value) => items.push(self.value_body(nesting + 1)?),
                        Kind::End => break,
                        _ => return Err(self.unexpected(&tok, "<value> or </data>")),
                    }
                }
                self.expect_end()?;
                Value::Array(items)
            }
            Tag::Struct => {
                check_nesting(nesting, pos)?;
                let mut members = Vec::new();
                loop {
                    self.skip_ws()?;
                    let tok = self.next()?;
                    match tok.kind {
                        Kind::Start(Tag::Member) => {
                            self.expect_start(Tag::Name)?;
                            let name = self.read_text()?.into_owned();
                            self.expect_start(Tag::Value)?;
                            let value = self.value_body(nesting + 1)?;
                            self.expect_end()?;
                            members.push((name, value));
                        }
                        Kind::End => break,
                        _ => return Err(self.unexpected(&tok, "<member> or </struct>")),
                    }
                }
                Value::Struct(members)
            }
            Tag::MethodCall
            | Tag::MethodName
            | Tag::MethodResponse
            | Tag::Params
            | Tag::Param
            | Tag::Fault
            | Tag::Value
            | Tag::Data
            | Tag::Member
            | Tag::Name => {
                return Err(Self::err_at(
                    pos,
                    format!("<{}> is not a value type", tag.xml_name()),
                ))
            }
        })
    }
}

fn check_nesting(nesting: usize, pos: u64) -> Result<(), ParseError> {
    if nesting >= MAX_NESTING {
        return Err(ParseError {
            position: pos,
            reason: format!("arrays/structs nested deeper than {MAX_NESTING}"),
        });
    }
    Ok(())
}

/// Standard alphabet; padding and trailing bits tolerated, because Python's decoder is lenient.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
