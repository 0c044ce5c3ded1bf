//! The way every GraphQL request, over HTTP and over WebSocket, reaches the
//! schema: held to the document limits first ([`super::limits`]), then run,
//! and every error of its response given its `extensions.code` (see
//! [`crate::error::annotate`]).
//!
//! A wrapper around the schema rather than a schema extension: with any
//! extension registered, async-graphql sends every field of every query
//! through its extension hooks, which costs a measurable share of a small
//! query's time. And extensions see a request only after async-graphql has
//! parsed it, too late for the limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Pos, Request, Response, ServerError};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{KeywardSchema, Schemas, limits};
use crate::auth::Principal;

/// How many operations of one WebSocket connection are prepared (held to
/// the limits, parsed, validated) at a time. async-graphql reads every
/// message a client has pipelined, then prepares each operation in the
/// first poll of its stream, all in the connection's one task and without
/// yielding: ten pipelined expensive `subscribe` messages were 5.3 s of one
/// worker's CPU that nothing else could use. One at a time, with a yield to
/// the scheduler before each, a connection gets at most one preparation per
/// turn, as an HTTP request does; the others wait their turn in order.
const PREPARED_AT_ONCE: usize = 1;

/// Most operations one WebSocket connection runs at a time: subscriptions
/// until they end or the client completes them, queries and mutations until
/// answered. async-graphql keeps every operation of a connection in a map
/// with no bound, each subscription with its own receiver of the event feed
/// (which every event is cloned to), so one socket could start thousands. A
/// client follows a few projects; a `subscribe` past the cap is refused on
/// its own (an error for its id, then `complete`), the connection goes on,
/// and an operation's slot comes back when it ends or is completed.
pub const MAX_ACTIVE_OPERATIONS: usize = 100;

/// The executor of one WebSocket connection: the limits applied, errors
/// annotated, and the schema of the connection's caller (see
/// [`Schemas::for_caller`]), known once the connection is authenticated.
#[derive(Clone)]
pub struct SessionExecutor {
    schemas: Schemas,
    caller: Arc<OnceLock<Principal>>,
    /// Turns to prepare an operation ([`PREPARED_AT_ONCE`]).
    preparing: Arc<Semaphore>,
    /// Slots for the operations the connection runs
    /// ([`MAX_ACTIVE_OPERATIONS`]).
    active: Arc<Semaphore>,
}

impl SessionExecutor {
    pub fn new(schemas: Schemas) -> Self {
        Self {
            schemas,
            caller: Arc::default(),
            preparing: Arc::new(Semaphore::new(PREPARED_AT_ONCE)),
            active: Arc::new(Semaphore::new(MAX_ACTIVE_OPERATIONS)),
        }
    }

    /// The connection's caller, once `connection_init` has authenticated
    /// it. Set once: a connection never changes hands.
    pub fn authenticated(&self, principal: &Principal) {
        let _ = self.caller.set(principal.clone());
    }

    fn schema(&self) -> &KeywardSchema {
        match self.caller.get() {
            Some(principal) => self.schemas.for_caller(principal),
            None => &self.schemas.anonymous,
        }
    }
}

/// A response, and whether execution started: whether the request got past
/// parsing, validation, the limits and the choice of its operation. GraphQL
/// over HTTP answers a response without `data` differently depending on it
/// (a request error, or an execution that failed as a whole); the response
/// alone cannot always tell, since an execution that failed without a field
/// to blame (a mutation task that panicked) has errors without a `path`,
/// like request errors.
pub struct Executed {
    pub response: Response,
    pub started: bool,
}

impl Executed {
    /// A request error: nothing ran.
    fn refused(error: ServerError) -> Self {
        Self {
            response: annotated(Response::from_errors(vec![error])),
            started: false,
        }
    }
}

/// Runs `request` on `schema`: the limits applied first, errors annotated.
/// Subscriptions are refused here: they are served over WebSocket
/// ([`SessionExecutor`]), never by this.
///
/// A mutation runs in a task of its own, called `starting_mutation` just
/// before: once it has started it is never cut short between one commit and
/// the next (by a request timeout or a client going away), so that every
/// change it commits is in the response it produces.
pub async fn execute(
    schema: &KeywardSchema,
    request: Request,
    starting_mutation: impl FnOnce(),
) -> Executed {
    let mut request = match limits::admit(request) {
        Ok(request) => request,
        Err(refused) => return Executed::refused(refused),
    };
    let started = AtomicBool::new(false);
    match operation_type(&mut request) {
        Some(OperationType::Subscription) => {
            return Executed::refused(ServerError::new(
                "subscriptions are served over WebSocket (graphql-transport-ws at /graphql/ws), \
                 not over HTTP",
                None,
            ));
        }
        Some(OperationType::Mutation) => {}
        // A query, or no operation to run (async-graphql says why).
        Some(OperationType::Query) | None => {
            let response = schema.execute_noting_start(request, &started).await;
            return Executed {
                response: annotated(response),
                started: started.into_inner(),
            };
        }
    }
    starting_mutation();
    let schema = schema.clone();
    let started = Arc::new(started);
    let noted = Arc::clone(&started);
    in_own_task(
        async move { schema.execute_noting_start(request, &noted).await },
        &started,
    )
    .await
}

/// Runs `execution` in a task of its own, which `started` says whether it
/// has started. If the task fails (it panicked), the response is one
/// INTERNAL error without `data`, and whether execution had started is
/// still `started`'s to say: a panic in validation is no more an execution
/// than a validation error is.
async fn in_own_task(
    execution: impl Future<Output = Response> + Send + 'static,
    started: &AtomicBool,
) -> Executed {
    let response = match tokio::spawn(tracing::Instrument::in_current_span(execution)).await {
        Ok(response) => response,
        Err(failed) => {
            let error = async_graphql::Error::from(crate::error::Error::from(failed));
            Response::from_errors(vec![error.into_server_error(Pos::default())])
        }
    };
    Executed {
        response: annotated(response),
        started: started.load(Ordering::Acquire),
    }
}

/// The type of the operation `request` runs, if there is one, chosen as
/// async-graphql chooses it (a document of one named operation runs it
/// without `operationName`). Only for a request that [`limits::admit`] let
/// through, whose document is parsed already (parsing is recursive).
fn operation_type(request: &mut Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    limits::executed(document, name.as_deref()).map(|operation| operation.ty)
}

/// Most errors a response without data reports; past them, one more error
/// says how many were left out. Validation reports every problem it finds,
/// one error each (a variable not defined, once per operation that reaches
/// it): within the document limits still thousands, each a line of JSON a
/// client must read and nobody reads past the first few. Responses with
/// data keep all their errors, each explaining a `null` in it (and a page
/// of at most 100 items bounds them).
pub const MAX_REQUEST_ERRORS: usize = 100;

/// Annotates the errors of `response`, and keeps at most
/// [`MAX_REQUEST_ERRORS`] of a response without data.
fn annotated(mut response: Response) -> Response {
    if response.data == async_graphql::Value::Null && response.errors.len() > MAX_REQUEST_ERRORS {
        let left_out = response.errors.len() - MAX_REQUEST_ERRORS;
        response.errors.truncate(MAX_REQUEST_ERRORS);
        response.errors.push(ServerError::new(
            format!(
                "{left_out} more errors left out; a response reports at most {MAX_REQUEST_ERRORS}"
            ),
            None,
        ));
    }
    response.errors.iter_mut().for_each(crate::error::annotate);
    response
}

impl Executor for SessionExecutor {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.schema().clone();
        async move { execute(&schema, request, || {}).await.response }
    }

    /// The operation of a `subscribe` message: given one of the
    /// connection's slots ([`MAX_ACTIVE_OPERATIONS`]) as the message
    /// arrives, held to the same limits as one sent over HTTP
    /// ([`limits::admit`]), prepared in its turn ([`PREPARED_AT_ONCE`]),
    /// then run.
    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        // Taken now, in the order the messages came, not when the stream is
        // first polled: async-graphql polls its streams in no set order.
        let Ok(slot) = Arc::clone(&self.active).try_acquire_owned() else {
            let refused = ServerError::new(
                format!(
                    "this connection already runs {MAX_ACTIVE_OPERATIONS} operations, the limit; \
                     complete one to start another"
                ),
                None,
            );
            return futures::stream::once(async {
                annotated(Response::from_errors(vec![refused]))
            })
            .boxed();
        };
        let schema = self.schema().clone();
        let preparing = Arc::clone(&self.preparing);
        let prepared = async move {
            // Never closed, so never an error; without a permit the
            // operation would merely not wait.
            let turn = preparing.acquire_owned().await.ok();
            tokio::task::yield_now().await;
            let stream = match limits::admit(request) {
                Ok(request) => Executor::execute_stream(&schema, request, session_data)
                    .map(annotated)
                    .boxed(),
                Err(refused) => {
                    futures::stream::once(async { annotated(Response::from_errors(vec![refused])) })
                        .boxed()
                }
            };
            TurnUntilFirstPoll { turn, stream }
        };
        HoldingSlot {
            slot: Some(slot),
            stream: futures::stream::once(prepared).flatten().boxed(),
        }
        .boxed()
    }
}

/// An operation's stream holding its slot among the connection's
/// operations until it ends or is dropped (async-graphql drops it when the
/// client sends `complete`, and when the connection closes).
struct HoldingSlot {
    slot: Option<OwnedSemaphorePermit>,
    stream: BoxStream<'static, Response>,
}

impl Stream for HoldingSlot {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let polled = self.stream.poll_next_unpin(cx);
        if let Poll::Ready(None) = polled {
            self.slot = None;
        }
        polled
    }
}

/// An operation's stream holding its connection's turn until its first
/// poll, in which async-graphql prepares the request (parsing, validation);
/// a query's or a mutation's first poll may also start executing it, which
/// waits on the database without the turn.
struct TurnUntilFirstPoll {
    turn: Option<OwnedSemaphorePermit>,
    stream: BoxStream<'static, Response>,
}

impl Stream for TurnUntilFirstPoll {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let polled = self.stream.poll_next_unpin(cx);
        self.turn = None;
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_graphql::{Request, Response, Value};

    use std::task::Poll;

    use super::{
        MAX_ACTIVE_OPERATIONS, MAX_REQUEST_ERRORS, PREPARED_AT_ONCE, SessionExecutor, execute,
        in_own_task, limits,
    };
    use crate::graphql::{KeywardSchema, Schemas, schema_builder};

    fn schema() -> KeywardSchema {
        // No data: enough for anything that fails before a resolver needs
        // the store.
        schema_builder().finish()
    }

    fn code(response: &Response) -> Option<String> {
        let error = response.errors.first()?;
        match error.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_panicked_execution_is_internal_and_says_whether_it_had_started() {
        for started in [true, false] {
            let flag = AtomicBool::new(started);
            let executed = in_own_task(async { panic!("a resolver's bug") }, &flag).await;
            assert_eq!(executed.started, started);
            assert_eq!(executed.response.data, Value::Null);
            assert_eq!(code(&executed.response).as_deref(), Some("INTERNAL"));
        }
    }

    #[tokio::test]
    async fn execution_starts_only_past_parsing_validation_and_the_choice_of_operation() {
        let schema = schema();
        let run = |query: &str, name: Option<&str>| {
            let mut request = Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            execute(&schema, request, || {})
        };
        let executed = run("{ __typename }", None).await;
        assert!(executed.started);
        assert!(
            executed.response.errors.is_empty(),
            "{:?}",
            executed.response
        );

        let deep = format!("{}b{}", "{ a ".repeat(40), " }".repeat(40));
        for (query, name) in [
            ("{ viewer { kind }", None),
            ("{ nope }", None),
            ("query A { __typename }", Some("B")),
            ("query A { __typename } query B { __typename }", None),
            ("subscription { keyEvents { action } }", None),
            (&deep, None),
        ] {
            let executed = run(query, name).await;
            assert!(!executed.started, "{query:.40}");
            assert_eq!(executed.response.data, Value::Null, "{query:.40}");
            assert_eq!(
                code(&executed.response).as_deref(),
                Some("BAD_USER_INPUT"),
                "{query:.40}"
            );
        }
    }

    /// async-graphql's own recursion limit never refuses what keyward's
    /// admits: its refusal does not say how deep the document is.
    #[tokio::test]
    async fn the_deepest_admitted_document_passes_the_schema_recursion_limit() {
        let query = format!(
            "{}b{}",
            "{ a ".repeat(limits::MAX_SELECTION_DEPTH),
            " }".repeat(limits::MAX_SELECTION_DEPTH)
        );
        let executed = execute(&schema(), Request::new(query), || {}).await;
        let messages: Vec<&str> = executed
            .response
            .errors
            .iter()
            .map(|error| error.message.as_str())
            .collect();
        assert!(!messages.is_empty());
        assert!(
            messages
                .iter()
                .all(|message| !message.contains("recursion")),
            "{messages:?}"
        );
    }

    /// Operations pipelined on one connection, polled as async-graphql polls
    /// them (every stream, pass after pass, in the connection's one task):
    /// each is answered, and no pass prepares more than its share.
    #[tokio::test]
    async fn a_connection_prepares_its_pipelined_operations_one_turn_at_a_time() {
        use async_graphql::Executor as _;
        use futures::StreamExt as _;
        use futures::stream::BoxStream;

        let executor = SessionExecutor::new(Schemas {
            authenticated: schema(),
            anonymous: schema(),
        });
        let pipelined = 10;
        let mut streams: Vec<Option<BoxStream<'static, Response>>> = (0..pipelined)
            .map(|_| Some(executor.execute_stream(Request::new("subscription { nope }"), None)))
            .collect();
        let mut answered = 0;
        for _pass in 0..100 {
            let prepared = std::future::poll_fn(|cx| {
                let mut prepared = 0;
                for slot in &mut streams {
                    let Some(stream) = slot.as_mut() else {
                        continue;
                    };
                    if let Poll::Ready(answer) = stream.poll_next_unpin(cx) {
                        let response = answer.expect("an answer before the end");
                        assert_eq!(code(&response).as_deref(), Some("BAD_USER_INPUT"));
                        prepared += 1;
                        *slot = None;
                    }
                }
                Poll::Ready(prepared)
            })
            .await;
            assert!(prepared <= PREPARED_AT_ONCE, "{prepared} in one pass");
            answered += prepared;
            if answered == pipelined {
                return;
            }
        }
        panic!("{answered} of {pipelined} operations answered");
    }

    /// Operations a connection holds open count against its cap, from the
    /// `subscribe` message until their stream ends or is dropped (as
    /// async-graphql drops it on the client's `complete`); past the cap an
    /// operation is refused on its own, and the connection goes on.
    #[tokio::test]
    async fn a_connection_runs_at_most_its_cap_of_operations_and_ended_ones_free_their_slot() {
        use async_graphql::Executor as _;
        use futures::StreamExt as _;

        let executor = SessionExecutor::new(Schemas {
            authenticated: schema(),
            anonymous: schema(),
        });
        // Never polled: each holds its slot as a live subscription does.
        let mut open: Vec<_> = (0..MAX_ACTIVE_OPERATIONS)
            .map(|_| executor.execute_stream(Request::new("subscription { nope }"), None))
            .collect();
        let refused = executor
            .execute_stream(Request::new("subscription { nope }"), None)
            .collect::<Vec<_>>()
            .await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(code(&refused[0]).as_deref(), Some("BAD_USER_INPUT"));
        assert_eq!(
            refused[0].errors[0].message,
            format!(
                "this connection already runs {MAX_ACTIVE_OPERATIONS} operations, the limit; \
                 complete one to start another"
            )
        );

        // Dropped (the client's `complete`): its slot comes back.
        drop(open.pop());
        let admitted = executor.execute_stream(Request::new("subscription { nope }"), None);
        // Ended (the operation ran to its end): its slot comes back too.
        let ended = admitted.collect::<Vec<_>>().await;
        assert!(!ended[0].errors[0].message.contains("operations, the limit"));
        let again = executor
            .execute_stream(Request::new("{ __typename }"), None)
            .collect::<Vec<_>>()
            .await;
        assert!(again[0].errors.is_empty(), "{again:?}");
    }

    #[tokio::test]
    async fn a_request_refused_reports_at_most_a_hundred_errors_and_counts_the_rest() {
        // A variable not defined is an error each.
        let uses: String = (0..150).map(|k| format!("$v{k} ")).collect();
        let query = format!("{{ node(id: [{uses}]) {{ id }} }}");
        let executed = execute(&schema(), Request::new(query), || {}).await;
        let errors = &executed.response.errors;
        assert_eq!(errors.len(), MAX_REQUEST_ERRORS + 1, "{errors:?}");
        let last = errors.last().expect("errors");
        assert!(
            last.message
                .ends_with("more errors left out; a response reports at most 100"),
            "{}",
            last.message
        );
        assert!(
            errors
                .iter()
                .all(|error| code_of(error) == Some("BAD_USER_INPUT")),
            "{errors:?}"
        );
    }

    fn code_of(error: &async_graphql::ServerError) -> Option<&str> {
        match error.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_named_mutation_runs_as_a_mutation_without_an_operation_name() {
        let starting = AtomicBool::new(false);
        let executed = execute(&schema(), Request::new("mutation M { __typename }"), || {
            starting.store(true, Ordering::Relaxed)
        })
        .await;
        assert!(starting.load(Ordering::Relaxed));
        assert!(executed.started);
        assert_eq!(
            executed.response.data,
            async_graphql::value!({ "__typename": "Mutation" })
        );
    }
}
