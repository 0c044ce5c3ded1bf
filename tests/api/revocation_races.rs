//! Revocation racing requests on other replicas (PostgreSQL).
