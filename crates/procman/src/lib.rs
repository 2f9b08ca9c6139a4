//! placeholder: the supervisor implementation lands here.
pub mod api;
pub use api::*;
