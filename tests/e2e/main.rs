//! End-to-end tests: the real server and real client engines (and the CLI binaries where
//! the behaviour is the CLI's) over HTTP on loopback.

mod abuse;
mod background;
mod bad_input;
mod cli_flows;
mod compression;
mod concurrent_pushes;
mod conflicts;
mod customer_card;

mod convergence;
mod dashboard;
mod demo_company;
mod devices;
mod diagnostics;
mod exactly_once;
mod extension;
mod files;
mod history;
mod import_export;
mod integration_api;
mod live;
mod logs;
mod long_polls;
mod measuring;
mod metrics;
mod moves;
mod order_numbers;
mod ordering;
mod orders;
mod permissions;
mod price_integrity;
mod privacy;
mod readiness;
mod resume;
mod role_change;
mod roles;
mod sales_rules;
mod schema;
mod sessions;
mod settings;
mod support;
mod tls;
mod value_rules;
