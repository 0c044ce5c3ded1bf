//! The GraphQL schema: query, mutation and subscription roots, types, and
//! the builder.

pub mod context;
mod documents;
mod executor;
mod guard;
pub use executor::{Executed, SessionExecutor, execute};
pub mod limits;
mod mutation;
mod query;
mod refusal_budget;
mod subscription;
pub mod types;
mod variables;

use async_graphql::{Schema, SchemaBuilder};

pub use context::{KeyPolicy, RequestContext, Services};
pub use mutation::Mutation;
pub use query::Query;
pub use refusal_budget::{RECORDED_PER_MINUTE, RefusalBudget};
pub use subscription::Subscription;

/// The schema keyward serves.
pub type KeywardSchema = Schema<Query, Mutation, Subscription>;

/// Deeper than any legitimate query (introspection included) needs.
pub const MAX_DEPTH: usize = 16;
/// Nesting of selection sets and fragments while parsing. Standard
/// introspection queries nest their `TypeRef` fragment about 20 deep.
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Most work one operation may ask for. Every field costs 1, and a
/// connection's selection counts once per requested object (`first`), so
/// aliases, repeated fields and large pages all add up. A full page of 100
/// keys with every field costs about 1,500; a full introspection query less.
pub const MAX_COMPLEXITY: usize = 2_500;

/// The schema's description, in introspection and in `schema.graphql`.
pub const DESCRIPTION: &str = "keyward: projects and their API keys. A key is an access key and a \
secret key sent as HTTP Basic credentials; it reaches its own project only, with its role \
(OWNER, MEMBER, READ_ONLY) and scopes. Every object can be fetched by its id with `node`; every \
change is recorded in the audit trail.";

/// The schema with its limits, before any data is attached. The SDL comes
/// from here, so printing it needs no database.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation::default(), Subscription)
        .description(DESCRIPTION)
        .limit_depth(MAX_DEPTH)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The schemas requests run against: the same schema, with field suggestions
/// ("did you mean …?") only for authenticated callers, so that anonymous
/// callers cannot map the API by trial and error.
#[derive(Clone)]
pub struct Schemas {
    pub authenticated: KeywardSchema,
    pub anonymous: KeywardSchema,
}

impl Schemas {
    /// The schema `principal`'s requests run against: suggestions for people
    /// and keys, none while access control is off.
    pub fn for_caller(&self, principal: &crate::auth::Principal) -> &KeywardSchema {
        match principal {
            crate::auth::Principal::Anonymous => &self.anonymous,
            crate::auth::Principal::Person(_) | crate::auth::Principal::ApiKey(_) => {
                &self.authenticated
            }
        }
    }

    pub fn new(services: Services) -> Self {
        Self {
            authenticated: schema_builder().data(services.clone()).finish(),
            anonymous: schema_builder()
                .data(services)
                .disable_suggestions()
                .finish(),
        }
    }
}

/// The SDL of the schema, with fields and enum values sorted so that the
/// checked-in `schema.graphql` diffs cleanly.
pub fn sdl() -> String {
    let sdl = schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items()
            .include_specified_by(),
    );
    // async-graphql's introspection always lists the built-in `Float`, even
    // though no field uses it, while its SDL leaves built-in scalars out.
    // Declaring it keeps a schema built from this file identical to the one
    // clients get by introspection (graphql-js and graphql-core otherwise
    // report Float as removed).
    format!("{sdl}\nscalar Float\n")
}
