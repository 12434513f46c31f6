fn main() {
    // The app's own commands; capabilities/default.json grants exactly these to the UI.
    let commands = &[
        "app_info",
        "sign_in",
        "sign_out",
        "sync_now",
        "set_paused",
        "sync_status",
        "search",
        "record",
        "related",
        "save",
        "delete_record",
        "review_queue",
        "review",
        "conflicts",
        "attention",
        "resend",
        "resend_at_current_prices",
        "restore_conflict",
        "discard",
        "dashboard",
        "review_many",
        "export_orders",
        "waiting_changes",
        "customer_card",
        "open_link",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri build script");
}
