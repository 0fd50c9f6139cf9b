//! Database connection (SQLite or PostgreSQL) and migrations helpers.
