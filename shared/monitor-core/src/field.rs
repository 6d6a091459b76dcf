//! Reading the text fields of the alert document and of stored values into
//! domain types. An error names the field and what it should hold, never the
//! value: a document may come from anyone, and errors reach logs.

use crate::domain::IdError;

/// A field that does not hold what its contract says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {expected}")]
pub struct FieldError {
    pub field: &'static str,
    /// Such as `expected 12 digits`.
    pub expected: String,
}

/// An identifier, parsed by `parse`.
pub(crate) fn id<T>(
    field: &'static str,
    value: String,
    parse: fn(String) -> Result<T, IdError>,
) -> Result<T, FieldError> {
    parse(value).map_err(|e| FieldError {
        field,
        expected: e.expected.to_owned(),
    })
}

/// One of a closed set of values, known by their text.
pub(crate) fn one_of<T: Copy>(
    field: &'static str,
    value: &str,
    all: &[T],
    as_str: fn(T) -> &'static str,
) -> Result<T, FieldError> {
    all.iter()
        .copied()
        .find(|v| as_str(*v) == value)
        .ok_or_else(|| FieldError {
            field,
            expected: format!(
                "expected one of {}",
                all.iter()
                    .map(|v| as_str(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// The text a field must be exactly.
pub(crate) fn exactly(field: &'static str, value: &str, text: &str) -> Result<(), FieldError> {
    if value == text {
        Ok(())
    } else {
        Err(FieldError {
            field,
            expected: format!("expected {text}"),
        })
    }
}
