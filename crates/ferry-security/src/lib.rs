//! Security primitives shared by `ferry hub` and `ferry workspace`, so that each concern has one
//! implementation:
//!
//! - [`password`]: argon2id hashing and verification off the async threads, with equal cost for
//!   unknown accounts;
//! - [`secret`]: random tokens, their SHA-256 form (the only form stored) and constant-time
//!   comparison;
//! - [`throttle`]: failed attempts counted in the database (one budget for every process on it):
//!   growing delays per (account, client) and per client, and plain rate limits;
//! - [`client`]: the client's address, taken from `X-Forwarded-For` only behind trusted proxies;
//! - [`http`]: the health answer and request IDs.

pub mod client;
pub mod http;
pub mod password;
pub mod secret;
pub mod throttle;

pub use client::{ClientAddr, TrustedProxies};
pub use throttle::{Backoff, LoginThrottle, RateLimit, Throttle};
