//! The error of parsing a `DbEnum` from text.

/// A text that is none of a `DbEnum`'s values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {enum_name} (expected one of: {expected})", expected = .allowed.join(", "))]
pub struct UnknownEnumValue {
    /// The enum's Rust name.
    pub enum_name: &'static str,
    /// The text that was given.
    pub value: String,
    /// The values it accepts.
    pub allowed: &'static [&'static str],
}

impl UnknownEnumValue {
    /// Builds the error.
    pub fn new(enum_name: &'static str, value: &str, allowed: &'static [&'static str]) -> Self {
        UnknownEnumValue {
            enum_name,
            value: value.to_owned(),
            allowed,
        }
    }
}
