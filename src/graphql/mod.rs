//! The GraphQL schema: query and mutation roots, types, and the builder.

pub mod context;
mod mutation;
mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

pub use context::{RequestContext, Services};
pub use mutation::Mutation;
pub use query::Query;

/// The schema keyward serves.
pub type KeywardSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deeper than any legitimate query (introspection included) needs.
const MAX_DEPTH: usize = 16;

/// The schema with its limits, before any data is attached. The SDL comes
/// from here, so printing it needs no database.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation::default(), EmptySubscription).limit_depth(MAX_DEPTH)
}

/// The schema, ready to execute requests against `services`.
pub fn schema(services: Services) -> KeywardSchema {
    schema_builder().data(services).finish()
}

/// The SDL of the schema, with fields and enum values sorted so that the
/// checked-in `schema.graphql` diffs cleanly.
pub fn sdl() -> String {
    let sdl = schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    );
    // async-graphql's introspection always lists the built-in `Float`, even
    // though no field uses it, while its SDL leaves built-in scalars out.
    // Declaring it keeps a schema built from this file identical to the one
    // clients get by introspection (graphql-js and graphql-core otherwise
    // report Float as removed).
    format!("{sdl}\nscalar Float\n")
}
