//! Ferry hub: a self-hostable BaseSpace-compatible server.
