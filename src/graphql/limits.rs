//! Limits every GraphQL request is held to before async-graphql sees it,
//! whichever way it came (`POST /graphql` or a `subscribe` message over
//! WebSocket): [`admit`] is the one way in.
//!
//! async-graphql parses, validates and converts values by recursion, on the
//! stack of whichever tokio worker runs the request. A 3.5 KB document of
//! nested list literals was enough to overflow that stack and abort the whole
//! process, before async-graphql's own `limit_recursive_depth` (which runs on
//! the parsed document) could act. And its validation walks every operation
//! and every fragment of a document with the fragments they spread inlined,
//! so the work grows with the product of operations and fragment sizes.
//! So [`admit`] checks, cheapest first, with nothing but loops and bounded
//! memory:
//!
//! 1. the length of the document ([`MAX_QUERY_BYTES`]), before reading it;
//! 2. the bracket nesting of the document's text (`{`, `[`, `(`), by a linear
//!    scan that skips strings, block strings and comments the way the parser
//!    does ([`MAX_NESTING`]);
//! 3. the nesting of the variables (JSON arrays and objects, [`MAX_NESTING`]);
//! 4. then it parses, and counts the operations ([`MAX_OPERATIONS`]);
//! 5. then it checks how deep selections nest once every fragment spread is
//!    inlined, which a chain of fragments can make deep without any deep
//!    brackets ([`MAX_SELECTION_DEPTH`]; fragment cycles are refused here
//!    too), and how many selections there are once inlined, in each
//!    operation and fragment ([`MAX_INLINED_SELECTIONS`]) and in the whole
//!    document ([`MAX_DOCUMENT_SELECTIONS`]), which fragments spread twice
//!    each, or spread by many operations, can make huge in a short document;
//!    and how many argument values (variables, literals, the items of lists
//!    and objects) the whole document has once inlined
//!    ([`MAX_DOCUMENT_VALUES`]), which validation checks again in each
//!    operation that reaches them;
//! 6. and how many root fields the mutation to be run has
//!    ([`MAX_MUTATION_FIELDS`]);
//! 7. and that its required variables are given ([`super::variables`]).
//!
//! Past them, every recursion of async-graphql is at most a few hundred
//! frames deep whatever the worker's stack size, and its validation walks at
//! most [`MAX_DOCUMENT_SELECTIONS`] selections and [`MAX_DOCUMENT_VALUES`]
//! argument values. The parsed document is handed
//! on with the request, so nothing is parsed twice; and a document admitted
//! before is taken from memory (`documents`), steps 4 to 6 included.

use std::collections::HashMap;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Pos, Positioned, Request, ServerError, Value as ConstValue, Variables};
use async_graphql_value::Value;

/// Longest document accepted, in bytes. Every check below is linear in it.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// Most operations one document may define. Only one of them runs, but
/// validation walks them all (with their fragments inlined), and several of
/// its rules repeat per operation the work of every fragment the operation
/// reaches: a 31.6 KB document of 1,700 operations each spreading one
/// fragment cost 0.3 s of CPU. Clients send one operation per request;
/// editors such as GraphiQL send every operation of their editor with
/// `operationName`, which a few dozen cover.
pub const MAX_OPERATIONS: usize = 64;

/// Deepest nesting accepted of brackets in the document and of arrays and
/// objects in the variables. The standard introspection query (graphql-js's
/// `getIntrospectionQuery`) nests 10 brackets; real input values nest a few
/// levels. Far below it, every recursion in parsing, validation and value
/// conversion fits easily in a debug build's 2 MiB worker stack.
pub const MAX_NESTING: usize = 64;

/// Deepest nesting accepted of selection sets once fragments are inlined,
/// the operation's own selection set counting 1 (the standard introspection
/// query nests about 20). The schema's recursion limit
/// ([`super::MAX_RECURSIVE_DEPTH`]), checked by async-graphql, counts the
/// same nesting from 0: this check, one level stricter, is the one that
/// refuses, with a message that says the depth measured (async-graphql's
/// does not).
pub const MAX_SELECTION_DEPTH: usize = super::MAX_RECURSIVE_DEPTH;

/// Most selections (fields, fragment spreads, inline fragments) an
/// operation or a fragment may have once its fragments are inlined.
/// async-graphql inlines spreads without memory when it checks the
/// recursion limit, validates and executes, so 24 fragments each spreading
/// the next twice (a 1 KB document) were 2^24 selections: a minute and a half
/// of one worker's CPU, which no timeout interrupts. Every field read costs
/// a complexity point ([`super::MAX_COMPLEXITY`]), so four times that leaves
/// room for any query that reads what it selects (only selections under an
/// empty page, `first: 0` or `nodes(ids: [])`, cost nothing); the standard
/// introspection query has about 230.
pub const MAX_INLINED_SELECTIONS: usize = 4 * super::MAX_COMPLEXITY;

/// Most selections a whole document may have: each operation and each
/// fragment, used or not, counted with its fragments inlined, summed. That
/// is what async-graphql's validation walks (its inlining visitors walk every
/// fragment on its own and again wherever it is spread), so this bounds the
/// work of a document however its operations and fragments divide it. Twice
/// the limit of one definition, so that an operation at that limit may be
/// written through a fragment (which then counts twice).
pub const MAX_DOCUMENT_SELECTIONS: usize = 2 * MAX_INLINED_SELECTIONS;

/// Most argument values a whole document may have, counted like its
/// selections: in each operation and each fragment with its fragments
/// inlined, summed. A value is an argument's (of a field or a directive),
/// a variable, or an item of a list or an object literal, each counting 1.
/// Validation walks them wherever they are inlined, and its variable rules
/// check each operation's variables through every fragment it reaches, with
/// an error per variable not defined: 64 operations each spreading one
/// fragment of 3,500 variables (24 KB) were 224,000 errors. Selections do
/// not bound these: one selection may carry thousands. A document that
/// spreads its values once stays far within it (the 32 KiB length limit
/// allows about 16,000 values written), while any multiplication by
/// operations or spreads soon reaches it.
pub const MAX_DOCUMENT_VALUES: usize = 20_000;

/// Most root fields one mutation may run. Each key-creating field runs
/// argon2, so aliases must not multiply that cost; no client of the API needs
/// more than a few changes in one request. Every root field counts (aliases,
/// repeats, fields reached through fragments and inline fragments, fields
/// that `@skip` would drop), except `__typename`.
pub const MAX_MUTATION_FIELDS: usize = 10;

/// `request`, parsed and checked against the limits above, ready for
/// async-graphql; or the error to answer instead (a parse error, or one that
/// names the limit), before anything has run.
pub fn admit(mut request: Request) -> Result<Request, ServerError> {
    check_size(&request.query)?;
    check_nesting(&request.query)?;
    check_variables(&request.variables)?;
    let operation_name = request.operation_name.as_deref();
    // Steps 4 to 6 depend on the text and the operation's name only: a
    // document admitted before is not parsed and walked again.
    let document = super::documents::shared().admitted(&request.query, operation_name, || {
        let document = async_graphql::parser::parse_query(&request.query).map_err(syntax_error)?;
        check_operations(&document)?;
        let shapes = Shapes::of(&document)?;
        shapes.check_inlined(&document)?;
        shapes.check_mutation_fields(&document, operation_name)?;
        drop(shapes);
        Ok(document)
    })?;
    if let Some(operation) = executed(&document, request.operation_name.as_deref()) {
        super::variables::check_required(operation, &request.variables)?;
    }
    request.set_parsed_query(document);
    Ok(request)
}

/// Refuses a document longer than [`MAX_QUERY_BYTES`]. Public so that GraphQL
/// over HTTP can answer it with a 400 whatever the response type, as it
/// answers a body too large; [`admit`] checks it all the same.
pub fn check_size(query: &str) -> Result<(), ServerError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(ServerError::new(
            format!(
                "the query is {} bytes, longer than the limit of {MAX_QUERY_BYTES} bytes",
                query.len()
            ),
            None,
        ));
    }
    Ok(())
}

/// Refuses a document of more than [`MAX_OPERATIONS`] operations: counted on
/// the parsed document, before any walk of its selections.
fn check_operations(document: &ExecutableDocument) -> Result<(), ServerError> {
    let operations = match &document.operations {
        DocumentOperations::Single(_) => 1,
        DocumentOperations::Multiple(operations) => operations.len(),
    };
    if operations > MAX_OPERATIONS {
        return Err(ServerError::new(
            format!("the document has {operations} operations; the limit is {MAX_OPERATIONS}"),
            None,
        ));
    }
    Ok(())
}

/// The parser's error as one line, with its position in `locations`. The
/// parser's own message is a multi-line drawing of the source line with an
/// arrow under the position, which clients show as garbled text; its last
/// line (`= expected …`) is what went wrong.
fn syntax_error(error: async_graphql::parser::Error) -> ServerError {
    use async_graphql::parser::Error as ParseError;
    let message = match &error {
        ParseError::Syntax { message, .. } => {
            let reason = message
                .lines()
                .rev()
                .find_map(|line| line.trim().strip_prefix("= "))
                .unwrap_or_else(|| message.lines().last().unwrap_or_default().trim());
            format!("syntax error: {reason}")
        }
        other => other.to_string(),
    };
    let mut error_out = ServerError::new(message, None);
    error_out.locations = error.positions().collect();
    error_out
}

/// Refuses a document whose brackets nest deeper than [`MAX_NESTING`].
///
/// The scan mirrors the lexer of async-graphql's grammar where it matters:
/// brackets inside a string or a comment are not counted. Where the scan and
/// the parser could disagree (unterminated strings, mismatched closers) it
/// errs towards counting more: such a document fails to parse anyway, and
/// the parser never reads past the point where it fails.
fn check_nesting(query: &str) -> Result<(), ServerError> {
    let bytes = query.as_bytes();
    // Open brackets, innermost last; never longer than MAX_NESTING.
    let mut open: Vec<u8> = Vec::with_capacity(MAX_NESTING);
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let next = match byte {
            b'{' | b'[' | b'(' => {
                if open.len() == MAX_NESTING {
                    return Err(ServerError::new(
                        format!(
                            "the document nests brackets {} levels deep or more; the limit is {MAX_NESTING}",
                            MAX_NESTING + 1
                        ),
                        Some(position(bytes, i)),
                    ));
                }
                open.push(byte);
                i + 1
            }
            b'}' | b']' | b')' => {
                // A closer that does not match is a syntax error; keeping the
                // opener counted only makes the scan stricter.
                if open.last().copied() == Some(opener(byte)) {
                    open.pop();
                }
                i + 1
            }
            b'#' => line_end(bytes, i),
            b'"' => string_end(bytes, i),
            _ => i + 1,
        };
        i = next;
    }
    Ok(())
}

fn opener(closer: u8) -> u8 {
    match closer {
        b'}' => b'{',
        b']' => b'[',
        _ => b'(',
    }
}

/// Where the comment starting at `start` ends: at the next line terminator.
fn line_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |offset| start + offset)
}

/// Where the string starting with the quote at `start` ends, as the grammar
/// reads it: a block string (`"""…"""`, where `\"""` is an escape), else a
/// string that ends at the next unescaped quote on the same line. An
/// unterminated block string is read as the grammar falls back to reading
/// it, as an empty string `""` followed by whatever comes next; an
/// unterminated string is not skipped at all (its brackets count).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let rest = &bytes[start..];
    if rest.starts_with(b"\"\"\"") {
        let mut j = start + 3;
        while j < bytes.len() {
            if bytes[j..].starts_with(b"\\\"\"\"") {
                j += 4;
            } else if bytes[j..].starts_with(b"\"\"\"") {
                return j + 3;
            } else {
                j += 1;
            }
        }
        return start + 2;
    }
    let mut j = start + 1;
    while let Some(&byte) = bytes.get(j) {
        match byte {
            b'"' => return j + 1,
            b'\\' => match bytes.get(j + 1) {
                Some(b'\n' | b'\r') | None => break,
                Some(_) => j += 2,
            },
            b'\n' | b'\r' => break,
            _ => j += 1,
        }
    }
    start + 1
}

/// Line and column of a byte offset, for the error only (so the scan itself
/// need not track them).
fn position(bytes: &[u8], offset: usize) -> Pos {
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    // Columns count characters, not bytes.
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Pos { line, column }
}

/// Refuses variables whose arrays and objects nest deeper than
/// [`MAX_NESTING`]. serde_json already stops at 128 levels while reading the
/// body; this keeps variables to the same limit as literals in the document,
/// so that no later step (coercion, validation, cloning, dropping) sees
/// deeper values from one source than from the other.
fn check_variables(variables: &Variables) -> Result<(), ServerError> {
    let mut pending: Vec<(&ConstValue, usize)> = variables.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = pending.pop() {
        let is_container = matches!(value, ConstValue::List(_) | ConstValue::Object(_));
        if is_container && depth > MAX_NESTING {
            return Err(ServerError::new(
                format!(
                    "the variables nest {depth} levels deep or more; the limit is {MAX_NESTING}"
                ),
                None,
            ));
        }
        match value {
            ConstValue::List(items) => pending.extend(items.iter().map(|v| (v, depth + 1))),
            ConstValue::Object(fields) => pending.extend(fields.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// What matters about one operation's or fragment's selections.
#[derive(Default)]
struct Shape<'a> {
    /// Deepest selection set inside the definition (its own is 1; a field's
    /// or an inline fragment's selections one more).
    deepest: usize,
    /// Fragments spread in it, each with the depth of the selection set it
    /// is spread in.
    spreads: Vec<(&'a str, usize)>,
    /// Root fields: those of its own selection set and of inline fragments
    /// directly in it (`__typename` aside).
    root_fields: usize,
    /// Fragments spread among its root fields.
    root_spreads: Vec<&'a str>,
    /// Selections written in it, at every depth (a spread counts 1 here).
    selections: usize,
    /// Argument values written in it, at every depth (see
    /// [`MAX_DOCUMENT_VALUES`]), those of the directives of its selections
    /// included.
    values: usize,
}

impl<'a> Shape<'a> {
    /// Walks `selection_set` with a stack of its own, not by recursion.
    fn of(selection_set: &'a SelectionSet) -> Self {
        let mut shape = Shape::default();
        let mut pending = vec![(selection_set, 1, true)];
        while let Some((set, depth, at_root)) = pending.pop() {
            shape.deepest = shape.deepest.max(depth);
            shape.selections = shape.selections.saturating_add(set.items.len());
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(field) => {
                        let field = &field.node;
                        shape.count_values(field.arguments.iter().map(|(_, value)| &value.node));
                        shape.count_directives(&field.directives);
                        if at_root && field.name.node != "__typename" {
                            shape.root_fields += 1;
                        }
                        if !field.selection_set.node.items.is_empty() {
                            pending.push((&field.selection_set.node, depth + 1, false));
                        }
                    }
                    Selection::FragmentSpread(spread) => {
                        shape.count_directives(&spread.node.directives);
                        let name = spread.node.fragment_name.node.as_str();
                        shape.spreads.push((name, depth));
                        if at_root {
                            shape.root_spreads.push(name);
                        }
                    }
                    Selection::InlineFragment(inline) => {
                        shape.count_directives(&inline.node.directives);
                        pending.push((&inline.node.selection_set.node, depth + 1, at_root));
                    }
                }
            }
        }
        shape
    }

    fn count_directives(&mut self, directives: &'a [Positioned<Directive>]) {
        for directive in directives {
            let arguments = directive.node.arguments.iter();
            self.count_values(arguments.map(|(_, value)| &value.node));
        }
    }

    /// Adds `values` and every item nested in them, with a stack of its
    /// own (they nest at most [`MAX_NESTING`] deep, checked before parsing,
    /// but the walk needs no recursion to count them).
    fn count_values(&mut self, values: impl Iterator<Item = &'a Value>) {
        let mut pending: Vec<&Value> = values.collect();
        while let Some(value) = pending.pop() {
            self.values = self.values.saturating_add(1);
            match value {
                Value::List(items) => pending.extend(items),
                Value::Object(fields) => pending.extend(fields.values()),
                _ => {}
            }
        }
    }
}

/// Every fragment's shape, with what it amounts to once the fragments it
/// spreads are inlined.
struct Shapes<'a> {
    /// Depth of the fragment's selections with every spread inlined.
    inlined_depth: HashMap<&'a str, usize>,
    /// Root fields of the fragment with every root spread inlined.
    inlined_fields: HashMap<&'a str, usize>,
    /// Selections of the fragment with every spread inlined.
    inlined_selections: HashMap<&'a str, usize>,
    /// Argument values of the fragment with every spread inlined.
    inlined_values: HashMap<&'a str, usize>,
}

/// What a definition amounts to with its spreads inlined.
struct Inlined {
    depth: usize,
    root_fields: usize,
    selections: usize,
    values: usize,
}

impl<'a> Shapes<'a> {
    /// Refuses fragment cycles (which GraphQL forbids, and which would make
    /// "inlined" endless).
    fn of(document: &'a ExecutableDocument) -> Result<Self, ServerError> {
        let shapes: HashMap<&str, Shape> = document
            .fragments
            .iter()
            .map(|(name, fragment)| (name.as_str(), Shape::of(&fragment.node.selection_set.node)))
            .collect();
        let mut inlined = Shapes {
            inlined_depth: HashMap::with_capacity(shapes.len()),
            inlined_fields: HashMap::with_capacity(shapes.len()),
            inlined_selections: HashMap::with_capacity(shapes.len()),
            inlined_values: HashMap::with_capacity(shapes.len()),
        };
        // Fragments after those they spread, so each is computed from done
        // ones.
        for name in spread_order(&shapes)? {
            let Some(shape) = shapes.get(name) else {
                continue;
            };
            let Inlined {
                depth,
                root_fields,
                selections,
                values,
            } = inlined.inline(shape);
            inlined.inlined_depth.insert(name, depth);
            inlined.inlined_fields.insert(name, root_fields);
            inlined.inlined_selections.insert(name, selections);
            inlined.inlined_values.insert(name, values);
        }
        Ok(inlined)
    }

    /// Depth, root fields, selections and values of `shape` with its spreads
    /// inlined. Spreads of unknown fragments count for nothing; validation
    /// reports them.
    fn inline(&self, shape: &Shape) -> Inlined {
        let depth = shape
            .spreads
            .iter()
            .filter_map(|(name, at)| Some(at.saturating_add(*self.inlined_depth.get(name)?)))
            .fold(shape.deepest, usize::max);
        let fields = shape
            .root_spreads
            .iter()
            .filter_map(|name| self.inlined_fields.get(name))
            .fold(shape.root_fields, |sum, fields| sum.saturating_add(*fields));
        let selections = shape
            .spreads
            .iter()
            .filter_map(|(name, _)| self.inlined_selections.get(name))
            .fold(shape.selections, |sum, selections| {
                sum.saturating_add(*selections)
            });
        let values = shape
            .spreads
            .iter()
            .filter_map(|(name, _)| self.inlined_values.get(name))
            .fold(shape.values, |sum, values| sum.saturating_add(*values));
        Inlined {
            depth,
            root_fields: fields,
            selections,
            values,
        }
    }

    /// Refuses any operation or fragment, used or not, whose selections nest
    /// deeper than [`MAX_SELECTION_DEPTH`], or number more than
    /// [`MAX_INLINED_SELECTIONS`], once inlined: validation walks them all;
    /// then a document whose definitions together number more than
    /// [`MAX_DOCUMENT_SELECTIONS`], or more values than
    /// [`MAX_DOCUMENT_VALUES`].
    fn check_inlined(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let check = |what: &dyn Fn() -> String, depth: usize, selections: usize, pos| {
            if depth > MAX_SELECTION_DEPTH {
                return Err(ServerError::new(
                    format!(
                        "{} nests selections {depth} levels deep once its fragments are inlined; the limit is {MAX_SELECTION_DEPTH}",
                        what()
                    ),
                    Some(pos),
                ));
            }
            if selections > MAX_INLINED_SELECTIONS {
                return Err(ServerError::new(
                    format!(
                        "{} has {selections} selections once its fragments are inlined; the limit is {MAX_INLINED_SELECTIONS}",
                        what()
                    ),
                    Some(pos),
                ));
            }
            Ok(())
        };
        let mut total: usize = 0;
        let mut total_values: usize = 0;
        for (name, fragment) in &document.fragments {
            let name = name.as_str();
            let depth = self.inlined_depth.get(name).copied().unwrap_or(0);
            let selections = self.inlined_selections.get(name).copied().unwrap_or(0);
            check(
                &|| format!("fragment `{name}`"),
                depth,
                selections,
                fragment.pos,
            )?;
            total = total.saturating_add(selections);
            let values = self.inlined_values.get(name).copied().unwrap_or(0);
            total_values = total_values.saturating_add(values);
        }
        for (_, operation) in document.operations.iter() {
            let inlined = self.inline(&Shape::of(&operation.node.selection_set.node));
            check(
                &|| "the operation".into(),
                inlined.depth,
                inlined.selections,
                operation.pos,
            )?;
            total = total.saturating_add(inlined.selections);
            total_values = total_values.saturating_add(inlined.values);
        }
        if total > MAX_DOCUMENT_SELECTIONS {
            return Err(ServerError::new(
                format!(
                    "the document has {total} selections once its fragments are inlined, \
                     counting every operation and fragment; the limit is {MAX_DOCUMENT_SELECTIONS}"
                ),
                None,
            ));
        }
        if total_values > MAX_DOCUMENT_VALUES {
            return Err(ServerError::new(
                format!(
                    "the document has {total_values} argument values once its fragments are \
                     inlined, counting every operation and fragment; the limit is {MAX_DOCUMENT_VALUES}"
                ),
                None,
            ));
        }
        Ok(())
    }

    /// Refuses a mutation, of the operation the request runs, with more than
    /// [`MAX_MUTATION_FIELDS`] root fields. Which operation runs is decided as
    /// async-graphql decides it; when none does, async-graphql reports why.
    fn check_mutation_fields(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Result<(), ServerError> {
        let Some(operation) = executed(document, operation_name) else {
            return Ok(());
        };
        if operation.ty != OperationType::Mutation {
            return Ok(());
        }
        let fields = self
            .inline(&Shape::of(&operation.selection_set.node))
            .root_fields;
        if fields > MAX_MUTATION_FIELDS {
            return Err(ServerError::new(
                format!(
                    "this mutation has {fields} root fields; at most {MAX_MUTATION_FIELDS} run in one request (aliases, repeats and fragments all count)"
                ),
                Some(operation.selection_set.pos),
            ));
        }
        Ok(())
    }
}

/// The operation async-graphql will run for `operation_name`, if any.
pub(super) fn executed<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => operation,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()?
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(&operation.node)
}

/// The fragments in an order where each comes after every fragment it
/// spreads; an error naming a fragment that spreads itself, directly or
/// through others. A depth-first search with a stack of its own.
fn spread_order<'a>(shapes: &HashMap<&'a str, Shape<'a>>) -> Result<Vec<&'a str>, ServerError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        InProgress,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::with_capacity(shapes.len());
    let mut order = Vec::with_capacity(shapes.len());
    for &start in shapes.keys() {
        if marks.contains_key(start) {
            continue;
        }
        marks.insert(start, Mark::InProgress);
        // Each entry: a fragment, and how many of its spreads are explored.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some(top) = path.last_mut() {
            let (name, explored) = *top;
            let spreads = shapes.get(name).map_or(&[][..], |shape| &shape.spreads[..]);
            let Some(&(next, _)) = spreads.get(explored) else {
                marks.insert(name, Mark::Done);
                order.push(name);
                path.pop();
                continue;
            };
            top.1 += 1;
            if !shapes.contains_key(next) {
                continue;
            }
            match marks.get(next) {
                None => {
                    marks.insert(next, Mark::InProgress);
                    path.push((next, 0));
                }
                Some(Mark::InProgress) => {
                    return Err(ServerError::new(
                        format!(
                            "fragment `{next}` spreads itself, directly or through other fragments"
                        ),
                        None,
                    ));
                }
                Some(Mark::Done) => {}
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(query: &str) -> Result<(), String> {
        admit(Request::new(query)).map(drop).map_err(|e| e.message)
    }

    fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn syntax_errors_are_one_line_with_their_position_in_locations() {
        for (query, message, line, column) in [
            (
                "{ viewer { kind }",
                "syntax error: expected selection",
                1,
                18,
            ),
            ("query { a(b: ) }", "syntax error: expected value", 1, 14),
            (
                "\n\n  }",
                "syntax error: expected executable_definition",
                3,
                3,
            ),
            (
                "{ a(n: 1e999999999) }",
                "syntax error: invalid number",
                1,
                8,
            ),
        ] {
            let error = super::admit(async_graphql::Request::new(query)).expect_err(query);
            assert!(!error.message.contains('\n'), "{query}: {}", error.message);
            assert!(
                error.message.starts_with(message),
                "{query}: {}",
                error.message
            );
            assert_eq!(
                error.locations,
                vec![async_graphql::Pos { line, column }],
                "{query}"
            );
        }
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_past_it_is_refused() {
        // `{ node(id: …) { id } }`: the literal is 2 brackets deep already.
        let at = |depth: usize| {
            format!(
                "{{ node(id: {}) {{ id }} }}",
                nested("[", "1", "]", depth - 2)
            )
        };
        assert_eq!(admitted(&at(MAX_NESTING)), Ok(()));
        let refused = admitted(&at(MAX_NESTING + 1)).unwrap_err();
        assert!(
            refused.contains("65 levels deep or more; the limit is 64"),
            "{refused}"
        );
    }

    #[test]
    fn every_construct_is_refused_past_the_limit_without_recursion() {
        // As deep as every construct nests within the length limit.
        let deep = 5_000;
        let cases = [
            (
                "list literal",
                format!("{{ node(id: {}) {{ id }} }}", nested("[", "1", "]", deep)),
            ),
            (
                "object literal",
                format!("{{ node(id: {}) {{ id }} }}", nested("{a:", "1", "}", deep)),
            ),
            (
                "directive argument",
                format!(
                    "{{ __typename @skip(if: {}) }}",
                    nested("[", "true", "]", deep)
                ),
            ),
            ("selection sets", nested("{ a ", "b", " }", deep)),
            ("unclosed", "[".repeat(deep)),
            (
                "variable type",
                format!("query($v: {}) {{ a }}", nested("[", "Int", "]", deep)),
            ),
        ];
        for (what, query) in cases {
            let refused = admitted(&query).unwrap_err();
            assert!(
                refused.contains("nests brackets 65 levels deep or more"),
                "{what}: {refused}"
            );
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "[".repeat(1_000);
        let cases = [
            format!("{{ node(id: \"{deep}\") {{ id }} }}"),
            format!("{{ node(id: \"\\\"{deep}\") {{ id }} }}"),
            format!("{{ node(id: \"\"\"{deep}\n\\\"\"\"{deep}\"\"\") {{ id }} }}"),
            format!("{{ node(id: \"x\") {{ id }} }} # {deep}"),
            format!("# {deep}\r{{ __typename }}"),
        ];
        for query in cases {
            assert_eq!(admitted(&query), Ok(()), "{query:.60}");
        }
    }

    #[test]
    fn brackets_the_parser_would_read_are_counted_however_strings_are_broken() {
        let deep = nested("[", "1", "]", 1_000);
        let cases = [
            // An unterminated block string is read as `""` and what follows.
            format!("{{ a(b: [\"\"\"\" {deep}]) }}"),
            // A string ends at a line end.
            format!("{{ a(b: \"x\n{deep}) }}"),
            format!("{{ a(b: \"x\\\n{deep}) }}"),
            // An escaped quote does not end a string, an escaped backslash
            // does not escape the quote after it.
            format!("{{ a(b: \"\\\\\" c: {deep}) }}"),
            // A comment ends at a carriage return.
            format!("{{ a # x\r(b: {deep}) }}"),
        ];
        for query in cases {
            let refused = admitted(&query).unwrap_err();
            assert!(
                refused.contains("nests brackets 65 levels deep or more"),
                "{query:.40}: {refused}"
            );
        }
    }

    #[test]
    fn variables_nest_at_most_to_the_limit() {
        let variables = |depth: usize| {
            let json = nested("[", "1", "]", depth);
            Variables::from_json(
                serde_json::json!({ "v": serde_json::from_str::<serde_json::Value>(&json).unwrap() }),
            )
        };
        let request = |depth| {
            Request::new("query($v: ID) { node(id: $v) { id } }").variables(variables(depth))
        };
        assert!(admit(request(MAX_NESTING)).is_ok());
        let refused = admit(request(MAX_NESTING + 1)).unwrap_err().message;
        assert!(
            refused.contains("variables nest 65 levels deep or more; the limit is 64"),
            "{refused}"
        );
    }

    fn chain(length: usize, used: bool) -> String {
        let operation = if used { "{ ...f0 }" } else { "{ __typename }" };
        let fragments: String = (0..length)
            .map(|n| format!("fragment f{n} on Query {{ ...f{} }}\n", n + 1))
            .collect();
        format!("{operation}\n{fragments}fragment f{length} on Query {{ __typename }}")
    }

    #[test]
    fn fragment_chains_are_refused_past_the_limit_used_or_not() {
        // The operation's selection set, then one per fragment, then the
        // last fragment's.
        assert_eq!(admitted(&chain(MAX_SELECTION_DEPTH - 2, true)), Ok(()));
        let refused = admitted(&chain(MAX_SELECTION_DEPTH - 1, true)).unwrap_err();
        assert!(
            refused.contains("the operation nests selections 33 levels deep once its fragments are inlined; the limit is 32"),
            "{refused}"
        );
        for used in [true, false] {
            // The longest chain that fits within the length limit, too.
            for length in [MAX_SELECTION_DEPTH, MAX_NESTING, 500, 800] {
                let refused = admitted(&chain(length, used)).unwrap_err();
                assert!(
                    refused.contains("once its fragments are inlined"),
                    "{refused}"
                );
            }
        }
    }

    #[test]
    fn selection_sets_nest_at_most_to_their_limit_and_the_refusal_says_how_deep() {
        let at = |depth: usize| nested("{ a ", "b", " }", depth);
        assert_eq!(admitted(&at(MAX_SELECTION_DEPTH)), Ok(()));
        for depth in [MAX_SELECTION_DEPTH + 1, 40, MAX_NESTING] {
            let refused = admitted(&at(depth)).unwrap_err();
            assert!(
                refused.contains(&format!(
                    "nests selections {depth} levels deep once its fragments are inlined; the limit is {MAX_SELECTION_DEPTH}"
                )),
                "{depth}: {refused}"
            );
        }
    }

    #[test]
    fn fragments_spread_many_times_are_refused_past_the_selection_limit() {
        // Fragment n spreads fragment n + 1 twice: 2^n paths, in a few
        // hundred bytes, as shallow as the depth limit allows.
        let doubling = |n: usize| {
            let fragments: String = (0..n)
                .map(|k| format!("fragment f{k} on Query {{ ...f{m} ...f{m} }}\n", m = k + 1))
                .collect();
            format!("{{ ...f0 }}\n{fragments}fragment f{n} on Query {{ __typename }}")
        };
        // 2^n - 1 … 2^(n+1) - 1 selections: fine at 11, refused at 13.
        assert_eq!(admitted(&doubling(11)), Ok(()));
        for n in [13, 24, 30] {
            let refused = admitted(&doubling(n)).unwrap_err();
            assert!(
                refused.contains("selections once its fragments are inlined; the limit is 10000"),
                "{n}: {refused}"
            );
        }
    }

    #[test]
    fn documents_longer_than_the_limit_are_refused_before_being_read() {
        let padded = |length: usize| format!("{{ __typename }} #{}", "[".repeat(length - 16));
        assert_eq!(admitted(&padded(MAX_QUERY_BYTES)), Ok(()));
        let refused = admitted(&padded(MAX_QUERY_BYTES + 1)).unwrap_err();
        assert_eq!(
            refused,
            "the query is 32769 bytes, longer than the limit of 32768 bytes"
        );
    }

    #[test]
    fn a_document_defines_at_most_the_limit_of_operations() {
        let operations = |n: usize| -> String {
            (0..n)
                .map(|k| format!("query q{k} {{ __typename }}\n"))
                .collect()
        };
        let run_one = |query: String| admit(Request::new(query).operation_name("q0")).map(drop);
        assert!(run_one(operations(MAX_OPERATIONS)).is_ok());
        let refused = run_one(operations(MAX_OPERATIONS + 1)).unwrap_err().message;
        assert_eq!(refused, "the document has 65 operations; the limit is 64");
    }

    #[test]
    fn selections_are_limited_for_the_whole_document_not_only_each_definition() {
        // f0 is 6,142 selections once inlined, its fragments 12,261 together;
        // an operation spreading it 6,143.
        let fragments: String = (0..11)
            .map(|k| format!("fragment f{k} on Query {{ ...f{m} ...f{m} }}\n", m = k + 1))
            .collect();
        let document = |operations: usize| -> String {
            let operations: String = (0..operations)
                .map(|k| format!("query q{k} {{ ...f0 }}\n"))
                .collect();
            format!("{operations}{fragments}fragment f11 on Query {{ __typename }}")
        };
        let run_one = |query: String| admit(Request::new(query).operation_name("q0")).map(drop);
        assert!(run_one(document(1)).is_ok());
        let refused = run_one(document(2)).unwrap_err().message;
        assert_eq!(
            refused,
            "the document has 24547 selections once its fragments are inlined, counting every \
             operation and fragment; the limit is 20000"
        );
        // Unused fragments count too: validation walks them all the same.
        let unused = format!("{}\nfragment g on Query {{ ...f0 }}", document(1));
        assert!(
            run_one(unused)
                .unwrap_err()
                .message
                .contains("24547 selections")
        );
    }

    #[test]
    fn argument_values_are_limited_for_the_whole_document_once_fragments_are_inlined() {
        // The reproduction: 64 operations each spreading one fragment that
        // uses 3,500 variables none defines (24 KB). Validation checks each
        // operation's variables through every fragment it reaches: 224,000
        // errors, each formatted and sent.
        let uses: String = (0..3_500).map(|k| format!("$v{k} ")).collect();
        let document = |operations: usize| -> String {
            let operations: String = (0..operations)
                .map(|k| format!("query q{k}{{...f}}\n"))
                .collect();
            format!("{operations}fragment f on Query{{node(id:[{uses}]){{id}}}}")
        };
        let reproduction = document(MAX_OPERATIONS);
        assert!(
            reproduction.len() < MAX_QUERY_BYTES,
            "{}",
            reproduction.len()
        );
        let run_one = |query: String| admit(Request::new(query).operation_name("q0")).map(drop);
        let refused = run_one(reproduction).unwrap_err().message;
        assert_eq!(
            refused,
            "the document has 227565 argument values once its fragments are inlined, counting \
             every operation and fragment; the limit is 20000"
        );
        // Written once and spread once, the same values are well within it
        // (they are left to validation, which reports them undefined).
        assert!(run_one(document(1)).is_ok());
        // List literals, object literals and directive arguments count too.
        let items = "0 ".repeat(3_000);
        for fragment in [
            format!("fragment f on Query{{node(id:[{items}]){{id}}}}"),
            format!("fragment f on Query{{node(id:{{a:[{items}]}}){{id}}}}"),
            format!("fragment f on Query{{...on Query@skip(if:[{items}]){{__typename}}}}"),
        ] {
            let operations: String = (0..8).map(|k| format!("query q{k}{{...f}}\n")).collect();
            let refused = run_one(format!("{operations}{fragment}"))
                .unwrap_err()
                .message;
            assert!(
                refused.contains("argument values once its fragments are inlined"),
                "{refused}"
            );
        }
    }

    #[test]
    fn fragment_cycles_are_refused() {
        for query in [
            "{ ...a } fragment a on Query { ...a }",
            "{ __typename } fragment a on Query { ...b } fragment b on Query { x { ...a } }",
        ] {
            let refused = admitted(query).unwrap_err();
            assert!(refused.contains("spreads itself"), "{refused}");
        }
    }

    #[test]
    fn fragments_spread_many_times_are_counted_without_walking_each_spread() {
        // 2^30 paths through 30 fragments (as deep as selections may nest):
        // counting, of selections and of root fields, must memoize.
        let fragments: String = (0..30)
            .map(|n| {
                format!(
                    "fragment f{n} on Mutation {{ ...f{m} ...f{m} }}\n",
                    m = n + 1
                )
            })
            .collect();
        let query = format!("mutation {{ ...f0 }}\n{fragments}fragment f30 on Mutation {{ a }}");
        let refused = admitted(&query).unwrap_err();
        assert!(
            refused.contains("selections once its fragments are inlined; the limit is 10000"),
            "{refused}"
        );
    }

    #[test]
    fn mutation_root_fields_are_counted_through_aliases_fragments_and_repeats() {
        let fields = |n: usize| "a ".repeat(n);
        let cases: Vec<(&str, String, usize)> = vec![
            (
                "aliases",
                (0..11).map(|n| format!("x{n}: a ")).collect(),
                11,
            ),
            ("repeats", fields(11), 11),
            (
                "inline fragments",
                format!("... on Mutation {{ {} }} ... {{ a }}", fields(10)),
                11,
            ),
            (
                "nested selections do not count",
                format!("a {{ {} }}", fields(50)),
                1,
            ),
            (
                "__typename does not count",
                format!("{} __typename", fields(10)),
                10,
            ),
        ];
        for (what, selection, expected) in cases {
            let query = format!("mutation {{ {selection} }}");
            let outcome = admitted(&query);
            if expected > MAX_MUTATION_FIELDS {
                let refused = outcome.unwrap_err();
                assert!(
                    refused.contains(&format!("has {expected} root fields")),
                    "{what}: {refused}"
                );
            } else {
                assert_eq!(outcome, Ok(()), "{what}");
            }
        }
        let spread = format!(
            "mutation {{ ...f ...f }} fragment f on Mutation {{ {} }}",
            fields(6)
        );
        assert!(
            admitted(&spread)
                .unwrap_err()
                .contains("has 12 root fields")
        );
    }

    #[test]
    fn only_the_executed_operation_counts_and_queries_are_not_capped() {
        let many = "a ".repeat(20);
        let document =
            format!("mutation big {{ {many} }} mutation small {{ a }} query q {{ {many} }}");
        let run = |name: &str| admit(Request::new(document.clone()).operation_name(name)).map(drop);
        assert!(run("small").is_ok());
        assert!(run("q").is_ok());
        assert!(run("big").is_err());
        assert!(admitted(&format!("{{ {many} }}")).is_ok());
    }

    #[test]
    fn the_standard_introspection_query_is_well_within_the_limits() {
        let query = include_str!("../../tests/api/introspection.graphql");
        assert_eq!(admitted(query), Ok(()));
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let shapes = Shapes::of(&document).expect("no cycles");
        for (_, operation) in document.operations.iter() {
            let inlined = shapes.inline(&Shape::of(&operation.node.selection_set.node));
            assert!(
                inlined.depth <= MAX_SELECTION_DEPTH * 2 / 3,
                "{}",
                inlined.depth
            );
            assert!(
                inlined.selections <= MAX_INLINED_SELECTIONS / 20,
                "{}",
                inlined.selections
            );
        }
    }
}
