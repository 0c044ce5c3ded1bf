//! Documents already parsed and checked, by their text and operation name.
//!
//! Scripts, proxies' sidecars and the console send the same few documents
//! again and again, and parsing one (async-graphql's parser is a PEG, about
//! a quarter of a small request's instructions) and walking it for the
//! limits gives the same answer every time. What depends on the request
//! beyond the text and the operation's name (its variables) is checked on
//! every request all the same.
//!
//! Bounded: at most [`MAX_DOCUMENTS`] documents of at most
//! `MAX_QUERY_BYTES` each; when full it starts over, so a client sending
//! ever new documents costs a parse each, as without the cache, and memory
//! stays bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::ServerError;
use async_graphql::parser::types::ExecutableDocument;

/// How many documents are kept.
const MAX_DOCUMENTS: usize = 1_000;

/// Text and operation name of a document.
type Key = (String, Option<String>);

/// The documents of this process (checking one is a pure function of its
/// text and operation name, whichever schema or request it is for).
pub(super) fn shared() -> &'static Documents {
    static DOCUMENTS: std::sync::LazyLock<Documents> = std::sync::LazyLock::new(Documents::default);
    &DOCUMENTS
}

#[derive(Default)]
pub(super) struct Documents(Mutex<HashMap<Key, Arc<ExecutableDocument>>>);

impl Documents {
    /// The document `query` parses to, checked for `operation_name` by
    /// `check`, from memory when this very text and name were checked
    /// before; `check` runs only otherwise (and its refusals are not kept).
    pub(super) fn admitted(
        &self,
        query: &str,
        operation_name: Option<&str>,
        check: impl FnOnce() -> Result<ExecutableDocument, ServerError>,
    ) -> Result<ExecutableDocument, ServerError> {
        let key = (query.to_owned(), operation_name.map(str::to_owned));
        if let Some(document) = self.lock().get(&key) {
            return Ok(ExecutableDocument::clone(document));
        }
        let document = check()?;
        let mut documents = self.lock();
        if documents.len() >= MAX_DOCUMENTS {
            documents.clear();
        }
        documents.insert(key, Arc::new(document.clone()));
        Ok(document)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<ExecutableDocument>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn parse(query: &str) -> Result<ExecutableDocument, ServerError> {
        async_graphql::parser::parse_query(query).map_err(|e| ServerError::new(e.to_string(), None))
    }

    #[test]
    fn a_document_is_checked_once_per_text_and_operation_name_and_refusals_are_not_kept() {
        let documents = Documents::default();
        let checks = Cell::new(0);
        let admit = |query: &str, name: Option<&str>| {
            documents.admitted(query, name, || {
                checks.set(checks.get() + 1);
                parse(query)
            })
        };
        for (query, name, checks_after) in [
            ("{ a }", None, 1),
            ("{ a }", None, 1),
            ("query Q { a }", Some("Q"), 2),
            ("query Q { a }", None, 3),
            ("query Q { a }", Some("Q"), 3),
            ("{ a", None, 4),
            ("{ a", None, 5),
        ] {
            let admitted = admit(query, name);
            assert_eq!(admitted.is_ok(), !query.ends_with('a'), "{query}");
            assert_eq!(checks.get(), checks_after, "{query} {name:?}");
        }
    }
}
