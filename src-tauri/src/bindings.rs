//! TypeScript declarations of what crosses the Tauri boundary, generated from the Rust
//! types (ts-rs) into `ui/src/lib/bindings.ts`. The test below fails when that file is
//! stale; regenerate it with
//! `FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings`.

use fieldsync_client::profiles::ProfileSummary;
use fieldsync_client::schedule::SyncState;
use fieldsync_client::{
    AttentionItem, BulkReview, CardOrder, CardVisit, ConflictEntry, CustomerCard, Dashboard, FieldLabel, Laptop,
    Overwritten, PickerProduct, RepWeeks, ReviewItem, Status, TopCustomer,
};
use ts_rs::TS;

use crate::commands::{AppInfo, SyncStatus, UiError};

/// Where the generated file lives, relative to this crate.
const BINDINGS_PATH: &str = "../ui/src/lib/bindings.ts";

/// The whole generated file.
fn render() -> String {
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs; do not edit.\n\
         // Regenerate: FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings\n\n",
    );
    let names: Vec<String> = crate::commands::NAMES.iter().map(|n| format!("\"{n}\"")).collect();
    out.push_str(&format!("/** Every command the UI may invoke. */\nexport type Command = {};\n\n", names.join(" | ")));
    out.push_str("/** The payload of the \"sync-state\" event. */\n");
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

    #[test]
    fn the_capabilities_grant_exactly_the_commands() {
        let caps = Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities");
        let mut granted = Vec::new();
        for entry in std::fs::read_dir(&caps).expect("capabilities dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read capability");
            let json: serde_json::Value = serde_json::from_str(&text).expect("capability JSON");
            for p in json["permissions"].as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
                if let Some(cmd) = p.strip_prefix("allow-") {
                    granted.push(cmd.replace('-', "_"));
                }
            }
        }
        granted.sort();
        let mut names: Vec<String> = crate::commands::NAMES.iter().map(|n| n.to_string()).collect();
        names.sort();
        assert_eq!(granted, names);
    }
}
