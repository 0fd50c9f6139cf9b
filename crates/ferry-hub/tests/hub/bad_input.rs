//! Placeholder module filled below.
