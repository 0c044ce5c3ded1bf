use chrono::{DateTime, FixedOffset, Local, Utc};

use crate::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// Implement the DateTime<FixedOffset> scalar
///
/// The input/output is a string in RFC3339 format.
#[Scalar(
    internal,
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime<FixedOffset> {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Ok(s.parse::<DateTime<FixedOffset>>()?),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_rfc3339())
    }
}

/// Implement the DateTime<Local> scalar
///
/// The input/output is a string in RFC3339 format.
#[Scalar(
    internal,
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime<Local> {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Ok(s.parse::<DateTime<Local>>()?),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_rfc3339())
    }
}

/// An instant, as an RFC 3339 date-time string such as
/// `2026-12-04T17:05:00.123+00:00`. Inputs may give any offset (`Z`,
/// `+02:00`) and any precision; outputs are in UTC (`+00:00`).
#[Scalar(
    internal,
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime<Utc> {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Ok(s.parse::<DateTime<Utc>>()?),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    // keyward: validation accepts exactly what `parse` accepts, so that a
    // value that is no date-time (a literal or a variable) is refused before
    // execution, as a request error, instead of failing the field that reads
    // it.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if s.parse::<DateTime<Utc>>().is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_rfc3339())
    }
}
