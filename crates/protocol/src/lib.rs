//! Fieldsync protocol: the wire types exchanged by client and server, and the entity
//! registry that declares every synced entity type (fields, references, who may read and
//! write it, conflict strategy). Both sides run one generic sync path over this registry.
//!
//! **Invariant:** this crate performs no I/O; it is data and pure functions.

pub mod errors;
pub mod merge;
pub mod registry;
pub mod standard;
pub mod time;
pub mod value;
pub mod wire;

pub use errors::ErrorCode;
pub use registry::{
    Access, Check, EntityDef, FieldDef, FieldDefault, FieldStrategy, FieldType, Fields, Registry, Role, Scope,
    StateMachine, Strategy, Transition, DEFAULT_MAX_APPENDED_BYTES, DEFAULT_MAX_TEXT_BYTES, MAX_APPEND_BYTES,
};
pub use value::{check_write, duplicate_message, parse_cli_value, validate_value, ValueError, Violation};
