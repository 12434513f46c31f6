fn main() {
    // The app's own commands, read from the one list in src/commands.rs (`all_commands!`);
    // capabilities/default.json grants exactly these to the UI (a test checks it).
    println!("cargo:rerun-if-changed=src/commands.rs");
    let source = std::fs::read_to_string("src/commands.rs").expect("src/commands.rs");
    // Entries are `name(Args) -> Answer,` one per line, between `$then!(` and `)`.
    let list = source.split_once("$then!(").map(|(_, rest)| rest).expect("the all_commands! macro in src/commands.rs");
    let names: Vec<&'static str> = list
        .lines()
        .map(str::trim)
        .take_while(|l| *l != ")")
        .filter_map(|l| l.split_once('(').map(|(name, _)| name.trim()))
        .filter(|n| !n.is_empty())
        .map(|n| &*Box::leak(n.to_string().into_boxed_str()))
        .collect();
    let commands: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri build script");
}
