//! The one variable check async-graphql leaves to execution: a variable of a
//! non-null type that the request does not provide and that has no default,
//! or that the request provides as `null` (default or not: an explicit
//! `null` is a value, and the default stands only for a missing one).
//! async-graphql runs the operation anyway and fails each field that reads
//! it, so a request error (nothing can run) would look like field errors in
//! a partial result. The specification's "coercing variable values" makes it
//! a request error, answered before execution.
//!
//! Values of the wrong type are refused by async-graphql's validation, which
//! asks each scalar's `is_valid`; that holds because every scalar of the
//! schema accepts there exactly what it can parse (`DateTime` by keyward's
//! patch, see `vendor/async-graphql/PATCHED.md`).

use async_graphql::parser::types::OperationDefinition;
use async_graphql::{ServerError, Value, Variables};

/// Refuses `variables` if they leave a required variable of `operation`
/// without a value.
pub fn check_required(
    operation: &OperationDefinition,
    variables: &Variables,
) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let ty = &definition.var_type.node;
        if ty.nullable {
            continue;
        }
        let name = &definition.name.node;
        let message = match variables.get(name) {
            None if definition.default_value.is_some() => continue,
            None => format!(r#"Variable "${name}" of required type "{ty}" was not provided."#),
            Some(Value::Null) => {
                format!(r#"Variable "${name}" of non-null type "{ty}" must not be null."#)
            }
            Some(_) => continue,
        };
        return Err(ServerError::new(message, Some(definition.name.pos)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;
    use async_graphql::{Variables, value};

    use super::check_required;

    fn check(query: &str, variables: async_graphql::Value) -> Result<(), String> {
        let document = parse_query(query).map_err(|e| e.to_string())?;
        let DocumentOperations::Single(operation) = &document.operations else {
            return Err("one operation".into());
        };
        check_required(&operation.node, &Variables::from_value(variables))
            .map_err(|error| error.message)
    }

    #[test]
    fn a_required_variable_must_be_given_and_not_null() {
        let query = "query($id: ID!, $n: Int, $d: Int! = 3) { node(id: $id) { id } }";
        assert_eq!(check(query, value!({ "id": "x" })), Ok(()));
        assert_eq!(
            check(query, value!({ "id": "x", "n": null, "d": 1 })),
            Ok(())
        );
        assert_eq!(
            check(query, value!({})),
            Err(r#"Variable "$id" of required type "ID!" was not provided."#.into())
        );
        assert_eq!(
            check(query, value!({ "id": null })),
            Err(r#"Variable "$id" of non-null type "ID!" must not be null."#.into())
        );
        // A default stands for a missing value, not for an explicit null.
        assert_eq!(
            check(query, value!({ "id": "x", "d": null })),
            Err(r#"Variable "$d" of non-null type "Int!" must not be null."#.into())
        );
        let lists = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
        assert_eq!(check(lists, value!({ "ids": [] })), Ok(()));
        assert!(check(lists, value!({})).is_err());
    }
}
