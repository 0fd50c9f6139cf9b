//! Ferry workspace: link BaseSpace accounts and import samples with verification.
