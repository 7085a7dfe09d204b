//! Schemas of request fields that several resources share, for their `#[schema(...)]`
//! attributes. Apart from `openapi.rs` (which lists every resource's operations), so a resource
//! names them without importing the document: no import cycle.

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::api::MAX_FIELD_CHARS;

/// What Rust's `str::trim` removes (Unicode White_Space), as a regular-expression class: a text
/// field must hold at least one character outside it.
pub const NON_BLANK: &str = "[^\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// A text field of a request as [`crate::api::text_field`] checks it: 1..=[`MAX_FIELD_CHARS`]
/// characters, not only white space.
pub fn text() -> Object {
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(MAX_FIELD_CHARS)).pattern(Some(NON_BLANK)).build()
}

/// [`text`], or null (an optional field).
pub fn optional_text() -> Object {
    let mut o = text();
    o.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    o
}

/// A string that is one of `names`.
pub fn one_of(names: &[&str]) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names.iter().copied())).build()
}
