//! A GraphQL request body, as the HTTP handler reads it, through the document
//! limits, parsing, validation and execution against the real schema (no
//! database: resolvers that need one just error). Nothing may panic or
//! overflow the stack, and every error must carry `extensions.code`.
//!
//! Inputs of three bytes or more start with a generator: the first byte picks
//! a construct that nests (list, object, directive argument, selection sets,
//! fragment chain, variables JSON, mixed), the next two a depth up to 65,535,
//! and the rest is put, as text, where the nesting is deepest. Other first
//! bytes send the input as the raw body.
#![no_main]

use std::sync::OnceLock;

use keyward::graphql::KeywardSchema;
use libfuzzer_sys::fuzz_target;

/// Half of a tokio worker's default stack: the limits must not depend on
/// a generous stack.
const STACK_BYTES: usize = 1024 * 1024;

fn schema() -> &'static KeywardSchema {
    static SCHEMA: OnceLock<KeywardSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| keyward::graphql::schema_builder().finish())
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// The body a generator makes, or `None` for a raw body.
fn generated(data: &[u8]) -> Option<Vec<u8>> {
    let (&[choice, high, low], rest) = data.split_first_chunk::<3>()?;
    let depth = usize::from(u16::from_be_bytes([high, low]));
    let inner = String::from_utf8_lossy(rest);
    let (query, variables) = match choice % 16 {
        0 => (
            format!("{{ node(id: {}) {{ id }} }}", nested("[", &inner, "]", depth)),
            None,
        ),
        1 => (
            format!("{{ node(id: {}) {{ id }} }}", nested("{a:", &inner, "}", depth)),
            None,
        ),
        2 => (
            format!("{{ __typename @skip(if: {}) }}", nested("[", &inner, "]", depth)),
            None,
        ),
        3 => (nested("{ viewer ", &inner, " }", depth), None),
        4 => {
            let chain: String = (0..depth)
                .map(|n| format!("fragment f{n} on Query {{ ...f{} }}\n", n + 1))
                .collect();
            (
                format!("{{ ...f0 }}\n{chain}fragment f{depth} on Query {{ {inner} }}"),
                None,
            )
        }
        5 => (
            "query($v: ID) { node(id: $v) { id } }".to_owned(),
            Some(nested("[", &inner, "]", depth)),
        ),
        6 => (
            format!(
                "mutation {{ {} }}",
                format!("a{inner}: createApiKey(input: {{projectId: \"x\", name: \"n\"}}) {{ secretKey }} ")
                    .repeat(depth.min(100))
            ),
            None,
        ),
        7 => (
            format!(
                "{{ __typename @include(if: {}) {} }}",
                nested("[{a:", &inner, "}]", depth),
                nested("... on Query { viewer ", "kind", " }", depth)
            ),
            None,
        ),
        _ => return None,
    };
    let query = serde_json::to_string(&query).ok()?;
    let body = match variables {
        Some(variables) => format!(r#"{{"query":{query},"variables":{{"v":{variables}}}}}"#),
        None => format!(r#"{{"query":{query}}}"#),
    };
    Some(body.into_bytes())
}

fn run(body: &[u8]) {
    // As the HTTP handler reads a body.
    let Ok(request) = serde_json::from_slice::<async_graphql::Request>(body) else {
        return;
    };
    // The handler refuses these before anything else (the executor's limits
    // would too); nothing to explore past them.
    if request.query.len() > keyward::graphql::limits::MAX_QUERY_BYTES {
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let executed = runtime.block_on(keyward::graphql::execute(schema(), request, || ()));
    for error in &executed.response.errors {
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        assert!(code.is_some(), "an error without a code: {error:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let body = generated(data).unwrap_or_else(|| data.to_vec());
    std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || run(&body))
        .expect("a thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
});
