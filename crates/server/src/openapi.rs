//! The API description, generated from the handlers' annotations and the wire types
//! (utoipa), served at `GET /v1/openapi.json`. `docs/sync-protocol.md` is the contract in
//! prose; a test keeps its endpoint table and this description in step.

use axum::Json;
use fieldsync_protocol::wire::{
    ApiError, EntityChanges, ErrorBody, LoginRequest, LoginResponse, Mutation, MutationResult, MutationStatus, Op,
    PullResponse, PushRequest, PushResponse, UserInfo,
};
use fieldsync_protocol::Role;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use crate::http;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fieldsync sync API",
        description = "Login, push and pull for offline-first clients; see docs/sync-protocol.md."
    ),
    paths(
        http::health,
        http::ready,
        http::login,
        http::logout,
        http::number_prefix,
        http::device_report,
        http::push_handler,
        http::pull_handler,
        http::team_devices,
        http::admin_assign,
        http::admin_unassign,
        crate::integration::import_handler,
        crate::integration::export_handler,
        serve
    ),
    components(schemas(
        ApiError,
        fieldsync_protocol::wire::TeamDevice,
        fieldsync_protocol::wire::TeamDevices,
        EntityChanges,
        ErrorBody,
        LoginRequest,
        LoginResponse,
        fieldsync_protocol::wire::NumberPrefix,
        fieldsync_protocol::wire::DeviceReport,
        http::Recorded,
        Mutation,
        MutationResult,
        MutationStatus,
        Op,
        PullResponse,
        PushRequest,
        PushResponse,
        Role,
        UserInfo,
        http::Health,
        http::Readiness,
        http::SignedOut,
        crate::export::Page,
        crate::import::Report,
        crate::import::RowError,
        crate::integration::ImportResponse,
    )),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The three bearer schemes: a session token from `/v1/login`, the admin token, and an
/// integration token (`fieldsync-server integration add`).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let bearer = || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("session", bearer());
        components.add_security_scheme("admin", bearer());
        components.add_security_scheme("integration", bearer());
    }
}

/// The description as JSON (built once).
pub fn document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "sync",
    responses((status = 200, description = "This API's OpenAPI 3.1 description", body = Object)))]
pub(crate) async fn serve() -> Json<serde_json::Value> {
    Json(document().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// `METHOD /v1/...` of every operation the description lists.
    fn described() -> BTreeSet<String> {
        let doc = super::document();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        out
    }

    /// The endpoints of the table in docs/sync-protocol.md §4 (`| \`METHOD /v1/...\` |`).
    fn documented() -> BTreeSet<String> {
        let text = include_str!("../../../docs/sync-protocol.md");
        let table = &text[text.find("## 4. Endpoints").unwrap()..];
        table
            .lines()
            .take_while(|l| !l.starts_with("### "))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|e| e.contains(" /v1/"))
            .map(String::from)
            .collect()
    }

    #[test]
    fn the_pull_bounds_it_describes_are_the_ones_it_enforces() {
        let params = super::document()["paths"]["/v1/pull"]["get"]["parameters"].as_array().unwrap().clone();
        let bound = |name: &str, key: &str| {
            params.iter().find(|p| p["name"] == name).and_then(|p| p["schema"][key].as_u64()).unwrap()
        };
        assert_eq!(bound("limit", "maximum"), u64::from(fieldsync_protocol::wire::MAX_PULL_LIMIT));
        assert_eq!(bound("wait_ms", "maximum"), crate::http::MAX_WAIT_MS);
    }

    #[test]
    fn the_description_and_the_protocol_document_list_the_same_endpoints() {
        assert_eq!(described(), documented());
        assert_eq!(super::document()["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    }
}
