//! Reads the app's tray icon as the desktop sees it: the StatusNotifierItem the tray
//! library (libayatana-appindicator) exports on the session bus, whose `IconName` is a PNG
//! file the tray library writes for each icon it is given.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ITEM_PATH: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_sync";

fn gdbus(args: &[&str]) -> Option<String> {
    let out = Command::new("gdbus").arg("call").arg("--session").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The file the tray currently shows, from whichever bus connection exports the item.
fn icon_file() -> Option<String> {
    let names = gdbus(&[
        "--dest",
        "org.freedesktop.DBus",
        "--object-path",
        "/org/freedesktop/DBus",
        "--method",
        "org.freedesktop.DBus.ListNames",
    ])?;
    names.split('\'').filter(|n| n.starts_with(":1.")).find_map(|name| {
        let reply = gdbus(&[
            "--dest",
            name,
            "--object-path",
            ITEM_PATH,
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem",
            "IconName",
        ])?;
        // (<'/tmp/tray-icon/tray-icon-sync-3.png'>,)
        reply.split('\'').nth(1).map(str::to_string)
    })
}

/// RGBA pixels of a PNG file.
fn pixels(path: &Path) -> Option<Vec<u8>> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).ok()?));
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    buf.truncate(info.buffer_size());
    Some(buf)
}

/// Waits until the tray shows the bundled icon `src-tauri/icons/tray-<state>.png`
/// (compared pixel by pixel); panics with what it shows instead after `secs`.
pub async fn wait_for_icon(state: &str, secs: u64) {
    let want_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src-tauri/icons/tray-{state}.png"));
    let want = pixels(&want_path).unwrap_or_else(|| panic!("cannot decode {}", want_path.display()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let shown = icon_file();
        if shown.as_deref().and_then(|f| pixels(Path::new(f))).as_ref() == Some(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "the tray does not show the '{state}' icon; it shows {shown:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
