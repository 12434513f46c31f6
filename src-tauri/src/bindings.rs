//! TypeScript declarations of what crosses the Tauri boundary, generated from the Rust
//! types (ts-rs) into `ui/src/lib/bindings.ts`. The test below fails when that file is
//! stale; regenerate it with
//! `FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings`.

use fieldsync_client::background::Event as SyncEvent;
use fieldsync_client::profiles::ProfileSummary;
use fieldsync_client::schedule::SyncState;
use fieldsync_client::{
    AttentionItem, BulkReview, CardOrder, CardVisit, ConflictEntry, CustomerCard, Dashboard, FieldLabel, Laptop,
    Overwritten, PickerProduct, RepWeeks, ReviewItem, Status, TopCustomer,
};
use ts_rs::TS;

use crate::commands::{
    AppInfo, ConflictId, CustomerId, Link, LinkKind, MutationId, OrderFilter, PickerQuery, RecordId, Related, Resend,
    Review, ReviewMany, Row, Save, Search, SetPaused, SignIn, SyncStatus, UiError,
};

/// Where the generated file lives, relative to this crate.
const BINDINGS_PATH: &str = "../ui/src/lib/bindings.ts";

/// The whole generated file.
fn render() -> String {
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs; do not edit.\n\
         // Regenerate: FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings\n\n",
    );
    out.push_str(&crate::commands::typescript());
    out.push_str("\n\n");
    out.push_str(&crate::commands::events_typescript());
    out.push_str("\n\n");
    for decl in [
        SyncState::decl(),
        Status::decl(),
        SyncStatus::decl(),
        AppInfo::decl(),
        UiError::decl(),
        AttentionItem::decl(),
        FieldLabel::decl(),
        ConflictEntry::decl(),
        ReviewItem::decl(),
        Dashboard::decl(),
        RepWeeks::decl(),
        TopCustomer::decl(),
        Laptop::decl(),
        BulkReview::decl(),
        ProfileSummary::decl(),
        CustomerCard::decl(),
        PickerProduct::decl(),
        CardOrder::decl(),
        CardVisit::decl(),
        Overwritten::decl(),
        SyncEvent::decl(),
        Row::decl(),
        SignIn::decl(),
        SetPaused::decl(),
        Search::decl(),
        RecordId::decl(),
        Related::decl(),
        Save::decl(),
        OrderFilter::decl(),
        Review::decl(),
        ReviewMany::decl(),
        Resend::decl(),
        MutationId::decl(),
        ConflictId::decl(),
        CustomerId::decl(),
        PickerQuery::decl(),
        Link::decl(),
        LinkKind::decl(),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn typescript_bindings_are_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(super::BINDINGS_PATH);
        let want = super::render();
        if std::env::var_os("FIELDSYNC_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &want).expect("write bindings");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: the Rust types crossing the Tauri boundary changed. Regenerate it with \
             `FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings` and commit it.",
            path.display()
        );
    }

    /// The commands are granted from the table at start (`commands::grant`); the files add
    /// only Tauri's own permissions, so no command is granted that the table does not list.
    #[test]
    fn the_capability_files_grant_no_command_of_their_own() {
        let caps = Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities");
        for entry in std::fs::read_dir(&caps).expect("capabilities dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read capability");
            let json: serde_json::Value = serde_json::from_str(&text).expect("capability JSON");
            for p in json["permissions"].as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
                assert!(p.starts_with("core:"), "{p} is granted outside the command table");
            }
        }
        use tauri::ipc::RuntimeCapability;
        let tauri::utils::acl::capability::CapabilityFile::Capability(cap) = crate::commands::grant().build() else {
            panic!("one capability")
        };
        let grant = serde_json::to_value(&cap).expect("capability JSON");
        let granted: Vec<&str> =
            grant["permissions"].as_array().expect("permissions").iter().filter_map(|p| p.as_str()).collect();
        let want: Vec<String> =
            crate::commands::NAMES.iter().map(|n| format!("allow-{}", n.replace('_', "-"))).collect();
        assert_eq!(granted, want);
        assert_eq!(grant["windows"], serde_json::json!(["main"]));
    }
}
