//! Integration tests of the workspace: accounts, CSRF, linking BaseSpace, imports through the
//! JSON API against a real hub, secrets at rest, isolation, and (ignored by default) browser tests
//! in headless Chromium. One test binary; modules live in tests/workspace/.

mod workspace {
    pub mod common;

    mod accounts;
    mod api_flow;
    mod api_keys;
    mod browser;
    mod import_flow;
    mod outbound;
    mod pages;
    mod records;
    mod roles;
    mod s3;
    mod secrets;
    mod serve;
    mod throttle;
}
