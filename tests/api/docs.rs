//! The documentation against what it documents: every flag and variable the
//! binary's `--help` prints is in `docs/configuration.md` (and every flag
//! that page lists is one the binary takes), and every shell example of
//! README.md and `docs/` runs as written after the README's walk-through:
//! each `$VARIABLE` it reads is set before, and each name its GraphQL uses is
//! one of `schema.graphql`. (The proxies' configurations are checked against
//! `docs/proxies.md` in `proxies.rs`, which runs them.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The markdown files whose examples must run: README.md, then `docs/*.md`.
fn documents() -> Vec<String> {
    let mut docs: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
            .expect("docs/ is readable")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.ends_with(".md").then(|| format!("docs/{name}"))
            })
            .collect();
    docs.sort();
    docs.insert(0, "README.md".to_owned());
    docs
}

// ---------------------------------------------------------------------------
// Configuration: the reference against `--help`.

/// Every command line that has options of its own.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["serve"],
    &["schema"],
    &["migrate"],
    &["backup"],
    &["admin", "reset-password"],
    &["admin", "disable-access-control"],
];

/// The long flags and environment variables one `keyward … --help` prints.
fn flags_and_variables(command: &[&str]) -> (BTreeSet<String>, BTreeSet<String>) {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(command)
        .arg("--help")
        .output()
        .expect("keyward runs");
    assert!(output.status.success(), "keyward {command:?} --help failed");
    let help = String::from_utf8_lossy(&output.stdout);
    let mut flags = BTreeSet::new();
    let mut variables = BTreeSet::new();
    for line in help.lines().map(str::trim_start) {
        if line.starts_with('-') {
            flags.extend(
                line.split([' ', ','])
                    .filter(|word| word.starts_with("--") && *word != "--help")
                    .map(str::to_owned),
            );
        }
        if let Some(rest) = line.strip_prefix("[env: ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            variables.insert(name);
        }
    }
    (flags, variables)
}

#[test]
fn the_configuration_reference_names_every_flag_and_variable_of_the_binary() {
    let reference = read("docs/configuration.md");
    let mut every_flag = BTreeSet::new();
    let mut missing = Vec::new();
    for command in COMMANDS {
        let (flags, variables) = flags_and_variables(command);
        for name in flags.iter().chain(&variables) {
            if !reference.contains(&format!("`{name}`")) {
                missing.push(format!("keyward {} {name}", command.join(" ")));
            }
        }
        if !command.is_empty() && !reference.contains(&format!("`keyward {}", command.join(" "))) {
            missing.push(format!("the command `keyward {}`", command.join(" ")));
        }
        every_flag.extend(flags);
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not name:\n{}",
        missing.join("\n")
    );

    // And the other way: no table row names a flag the binary does not take.
    let unknown: Vec<&str> = reference
        .lines()
        .filter(|line| line.starts_with('|'))
        .flat_map(|line| line.split('`'))
        .filter(|code| code.starts_with("--") && !code.ends_with('*'))
        .filter(|flag| !every_flag.contains(*flag) && *flag != "--help")
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md lists flags no command takes: {unknown:?}"
    );
}

// ---------------------------------------------------------------------------
// Examples: shell blocks read as a shell would, for the variables they read
// and set and the strings they pass on.

/// Variables an example may read without setting them: the operator's own
/// environment, named in docs/configuration.md.
const ENVIRONMENT: &[&str] = &["DATABASE_URL"];

/// What the walk-through's last step deletes: its key. After it, these
/// variables name a key that is gone, so an example that needs a key makes
/// its own (setting these names again is fine).
const DELETED_BY_THE_WALK_THROUGH: &[&str] = &["KEY", "KEY_ID", "ACCESS", "SECRET"];

/// A fenced block of one of the documents.
struct Block {
    language: String,
    /// Line of the document where the block's text starts (1-based).
    line: usize,
    text: String,
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(language)) => {
                open = Some(Block {
                    language: language.trim().to_owned(),
                    line: index + 2,
                    text: String::new(),
                });
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

fn is_shell(block: &Block) -> bool {
    matches!(block.language.as_str(), "sh" | "bash" | "shell")
}

#[derive(Debug, PartialEq)]
enum Event {
    /// `NAME=…`, `for NAME in`.
    Set(String),
    /// `$NAME`, `${NAME…}`.
    Read(String),
    /// The text of a quoted string, as the command receives it (variables
    /// read inside it left as `$NAME`).
    Quoted(String),
}

/// Where the scanner is: a command line (the block, `$(…)` or `(…)`), or a
/// double-quoted string being collected.
enum Context {
    Command,
    Parenthesis,
    Double(String),
}

fn identifier_at(chars: &[char], start: usize) -> Option<String> {
    let first = chars.get(start)?;
    if !(first.is_ascii_alphabetic() || *first == '_') {
        return None;
    }
    Some(
        chars[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect(),
    )
}

/// Reads one shell block as bash would for what matters here: quoting,
/// comments, command substitution, assignments and expansions, each event
/// with the line (within the block, 0-based) where it happens.
fn scan_shell(text: &str) -> Vec<(usize, Event)> {
    let chars: Vec<char> = text.chars().collect();
    let mut events = Vec::new();
    let mut stack = vec![Context::Command];
    let mut line = 0;
    let mut word_start = true;
    let mut defines_next = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
        }
        if let Some(Context::Double(buffer)) = stack.last_mut() {
            match c {
                '"' => {
                    if let Some(Context::Double(text)) = stack.pop() {
                        events.push((line, Event::Quoted(text)));
                    }
                    word_start = false;
                }
                '\\' => {
                    let next = chars.get(i + 1).copied().unwrap_or('\\');
                    match next {
                        '\n' => line += 1,
                        '"' | '\\' | '$' | '`' => buffer.push(next),
                        _ => {
                            buffer.push('\\');
                            buffer.push(next);
                        }
                    }
                    i += 1;
                }
                '$' => {
                    i = dollar(&chars, i, line, &mut stack, &mut events);
                    word_start = matches!(chars.get(i), Some('('));
                }
                _ => buffer.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '#' if word_start => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '\'')
                    .map_or(chars.len(), |end| i + 1 + end);
                let quoted: String = chars[i + 1..end].iter().collect();
                line += quoted.matches('\n').count();
                events.push((line, Event::Quoted(quoted)));
                i = end;
                word_start = false;
            }
            '"' => {
                stack.push(Context::Double(String::new()));
                word_start = false;
            }
            '\\' => {
                i += 1;
                if chars.get(i) == Some(&'\n') {
                    line += 1;
                }
                word_start = false;
            }
            '$' => {
                i = dollar(&chars, i, line, &mut stack, &mut events);
                word_start = matches!(chars.get(i), Some('('));
            }
            '(' => {
                stack.push(Context::Parenthesis);
                word_start = true;
            }
            ')' => {
                if stack.len() > 1 {
                    stack.pop();
                }
                word_start = false;
            }
            c if c.is_whitespace() || matches!(c, ';' | '|' | '&' | '{' | '}') => {
                word_start = true;
            }
            _ if word_start => {
                word_start = false;
                if let Some(word) = identifier_at(&chars, i) {
                    let after = i + word.chars().count();
                    if defines_next {
                        events.push((line, Event::Set(word.clone())));
                        defines_next = false;
                    } else if chars.get(after) == Some(&'=') {
                        events.push((line, Event::Set(word.clone())));
                    } else if word == "for" {
                        defines_next = true;
                    }
                    i = after;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    events
}

/// A `$` at `chars[i]`: records a read, or opens a command substitution.
/// Returns the index of the last character it consumed.
fn dollar(
    chars: &[char],
    i: usize,
    line: usize,
    stack: &mut Vec<Context>,
    events: &mut Vec<(usize, Event)>,
) -> usize {
    let mut name = None;
    let end = match chars.get(i + 1) {
        Some('(') => {
            stack.push(Context::Command);
            i + 1
        }
        Some('{') => {
            let close = chars[i + 2..]
                .iter()
                .position(|c| *c == '}')
                .map_or(chars.len() - 1, |end| i + 2 + end);
            name = identifier_at(chars, i + 2);
            close
        }
        Some(_) => match identifier_at(chars, i + 1) {
            Some(identifier) => {
                let end = i + identifier.chars().count();
                name = Some(identifier);
                end
            }
            // `$1`, `$@`, `$?`…, or a lone `$`.
            None => {
                i + usize::from(chars[i + 1].is_ascii_digit() || "@?#$*!-".contains(chars[i + 1]))
            }
        },
        None => i,
    };
    if let Some(name) = name {
        if let Some(Context::Double(buffer)) = stack.last_mut() {
            buffer.push('$');
            buffer.push_str(&name);
        }
        events.push((line, Event::Read(name)));
    }
    end
}

/// The walk-through: the README's first shell block after its heading.
fn walk_through(readme: &str) -> Block {
    let heading = readme
        .find("\n## Walk-through with curl\n")
        .expect("README.md has its walk-through");
    let heading_line = readme[..heading].lines().count() + 1;
    fenced_blocks(readme)
        .into_iter()
        .find(|block| block.line > heading_line && is_shell(block))
        .expect("the walk-through has a shell block")
}

/// Runs the blocks of one document in order, from `known`, and returns each
/// read of a variable nothing set before.
fn unset_reads(
    file: &str,
    blocks: &[Block],
    mut known: BTreeSet<String>,
    walk_through_line: Option<usize>,
) -> Vec<String> {
    let mut unset = Vec::new();
    for block in blocks.iter().filter(|block| is_shell(block)) {
        for (line, event) in scan_shell(&block.text) {
            match event {
                Event::Set(name) => {
                    known.insert(name);
                }
                Event::Read(name) if !known.contains(&name) => {
                    unset.push(format!("{file}:{}: ${name}", block.line + line));
                }
                Event::Read(_) | Event::Quoted(_) => {}
            }
        }
        if Some(block.line) == walk_through_line {
            for name in DELETED_BY_THE_WALK_THROUGH {
                known.remove(*name);
            }
        }
    }
    unset
}

#[test]
fn every_example_reads_only_variables_the_walk_through_or_its_page_set() {
    let readme = read("README.md");
    let walk = walk_through(&readme);
    assert!(
        walk.text.contains("deleteKey"),
        "the walk-through ends by deleting its key, which DELETED_BY_THE_WALK_THROUGH assumes"
    );

    let environment: BTreeSet<String> = ENVIRONMENT.iter().map(|name| (*name).to_owned()).collect();
    let mut after_walk_through = environment.clone();
    for (_, event) in scan_shell(&walk.text) {
        if let Event::Set(name) = event {
            after_walk_through.insert(name);
        }
    }
    for name in DELETED_BY_THE_WALK_THROUGH {
        assert!(
            after_walk_through.remove(*name),
            "the walk-through no longer sets ${name}: update DELETED_BY_THE_WALK_THROUGH"
        );
    }

    let mut unset = Vec::new();
    for file in documents() {
        let blocks = fenced_blocks(&read(&file));
        unset.extend(if file == "README.md" {
            unset_reads(&file, &blocks, environment.clone(), Some(walk.line))
        } else {
            unset_reads(&file, &blocks, after_walk_through.clone(), None)
        });
    }
    assert!(
        unset.is_empty(),
        "examples read variables that nothing set before them (after the walk-through, \
         only {after_walk_through:?} are set; its key is deleted):\n{}",
        unset.join("\n")
    );
}

// ---------------------------------------------------------------------------
// GraphQL in the examples: every name is one of the schema's.

/// The names of a GraphQL document, leaving out strings, comments and
/// variables.
fn graphql_names(document: &str) -> Vec<String> {
    let chars: Vec<char> = document.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' if chars[i..].starts_with(&['"', '"', '"']) => {
                i += 3;
                while i < chars.len() && !chars[i..].starts_with(&['"', '"', '"']) {
                    i += 1;
                }
                i += 2;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '$' => {
                i += identifier_at(&chars, i + 1).map_or(0, |name| name.chars().count());
            }
            c if c.is_ascii_digit() => {
                while i + 1 < chars.len() && chars[i + 1].is_ascii_alphanumeric() {
                    i += 1;
                }
            }
            _ => {
                if let Some(name) = identifier_at(&chars, i) {
                    i += name.chars().count() - 1;
                    names.push(name);
                }
            }
        }
        i += 1;
    }
    names
}

/// The GraphQL documents of a shell block: the quoted strings that are
/// one, and the `query` of the JSON bodies it sends.
fn graphql_in_shell(block: &Block) -> Vec<String> {
    scan_shell(&block.text)
        .into_iter()
        .filter_map(|(_, event)| match event {
            Event::Quoted(text) => Some(text),
            _ => None,
        })
        .filter_map(|text| {
            if let Ok(body) = serde_json::from_str::<serde_json::Value>(&text) {
                return body["query"].as_str().map(str::to_owned);
            }
            let start = text.trim_start();
            ["{", "query", "mutation", "subscription"]
                .iter()
                .any(|keyword| start.starts_with(keyword))
                .then_some(text)
        })
        .collect()
}

#[test]
fn every_graphql_name_in_the_examples_is_one_of_the_schema() {
    let mut schema: BTreeSet<String> = graphql_names(&read("schema.graphql")).into_iter().collect();
    schema.extend(
        [
            "query",
            "mutation",
            "subscription",
            "fragment",
            "on",
            "true",
            "false",
            "null",
        ]
        .map(str::to_owned),
    );
    let mut unknown = Vec::new();
    for file in documents() {
        for block in fenced_blocks(&read(&file)) {
            let documents = match block.language.as_str() {
                "graphql" => vec![block.text.clone()],
                _ if is_shell(&block) => graphql_in_shell(&block),
                _ => continue,
            };
            unknown.extend(
                documents
                    .iter()
                    .flat_map(|document| graphql_names(document))
                    .filter(|name| !schema.contains(name))
                    .map(|name| format!("{file}:{} (block): {name}", block.line)),
            );
        }
    }
    assert!(
        unknown.is_empty(),
        "examples use names schema.graphql does not have:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_shell_reader_sees_what_bash_would() {
    let events = scan_shell(
        "A=1 # $COMMENT\nB=$(echo \"$A\" '$SINGLE') && echo \"${B[@]} \\$NOT $1\"\nfor C in x; do echo $C; done\n",
    );
    assert_eq!(
        events,
        vec![
            (0, Event::Set("A".into())),
            (1, Event::Set("B".into())),
            (1, Event::Read("A".into())),
            (1, Event::Quoted("$A".into())),
            (1, Event::Quoted("$SINGLE".into())),
            (1, Event::Read("B".into())),
            (1, Event::Quoted("$B $NOT ".into())),
            (2, Event::Set("C".into())),
            (2, Event::Read("C".into())),
        ]
    );
}
