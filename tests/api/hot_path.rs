//! The hot path: statements per request, and one process per SQLite file.
