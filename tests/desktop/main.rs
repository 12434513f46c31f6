//! The real desktop app in a real window (Xvfb), driven through WebDriver (tauri-driver +
//! WebKitWebDriver) against a real local server. Run by `scripts/desktop-e2e.sh`, which
//! provides the display, a private D-Bus session, an unlocked keyring and tauri-driver.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
mod tray;
mod webdriver;

use std::process::{Child, Command};

use support::{workspace_bin, TestServer};
use webdriver::Session;

/// tauri-driver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(profile: &std::path::Path, server: &str) -> Driver {
        for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
            assert!(
                std::env::var_os(var).is_some(),
                "{var} is not set: run the desktop tests through scripts/desktop-e2e.sh"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new("tauri-driver");
        // Its own process group, so dropping the driver also ends the WebKitWebDriver and
        // the app it started: the next test's window must not meet this one's.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .args(["--port", &port.to_string()])
            .env("FIELDSYNC_PROFILES", profile)
            .env("FIELDSYNC_SERVER", server)
            .env("FIELDSYNC_CONFIG", profile.join("no-system-config.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --locked)");
        // Owned by the Driver at once, so every exit path kills and reaps it.
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return driver;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(driver);
        panic!("tauri-driver did not start listening on {port}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in as `user` (password "demo") on the sign-in screen, replacing a pre-filled name.
async fn sign_in(s: &Session, user: &str) {
    let field = s.wait_for("input[name=user]", 30).await;
    s.clear(&field).await;
    s.type_into(&field, user).await;
    s.type_into(&s.wait_for("input[name=password]", 5).await, "demo").await;
    s.click(&s.wait_for("button[type=submit]", 5).await).await;
    s.wait_for("[data-testid=sign-out]", 30).await;
}

/// Opens the first customer of the result list; returns the "Record visit" button.
/// Results re-render while a search settles, so it clicks until the detail opens.
async fn open_first_customer(s: &Session) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let cells = s.wait_count("[data-testid=customer-row] td", 1, 10).await;
        s.click(&cells[1]).await;
        if let Some(button) = s.find("[data-testid=record-visit]").await {
            return button;
        }
        assert!(std::time::Instant::now() < deadline, "the customer detail never opened");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Watches the session bus for desktop notifications (`Notify` calls), as any
/// notification daemon would receive them.
struct NotificationMonitor {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl NotificationMonitor {
    fn start() -> NotificationMonitor {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("notify.log");
        let child = Command::new("dbus-monitor")
            .arg("interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dbus-monitor (package dbus)");
        NotificationMonitor { child, log, _dir: dir }
    }

    /// Waits for a notification whose summary contains `needle`; returns (summary, body).
    fn wait_for(&self, needle: &str, secs: u64) -> (String, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            // A Notify call lists: app name, replaces id, icon, summary, body, ...
            for call in text.split("member=Notify").skip(1) {
                let strings: Vec<&str> = call
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("string \""))
                    .map(|l| l.trim_end_matches('"'))
                    .collect();
                if let (Some(summary), Some(body)) = (strings.get(2), strings.get(3)) {
                    if summary.contains(needle) {
                        return (summary.to_string(), body.to_string());
                    }
                }
            }
            assert!(std::time::Instant::now() < deadline, "no notification with '{needle}'; bus log:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for NotificationMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_works_offline_in_the_real_window_and_the_manager_approves_the_order() {
    let mut srv = TestServer::demo().await;
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(profile.path(), &srv.url).await;
    let app = workspace_bin("fieldsync-desktop");
    let s = Session::start(&driver.url, app.to_str().unwrap()).await;

    // Sign in: the server address is pre-filled from the environment.
    s.wait_for("input[name=user]", 30).await;
    s.screenshot("sign-in").await;
    sign_in(&s, "rep1").await;

    // The first sync runs with visible progress and ends up to date.
    s.wait_for("[data-testid=customer-search]", 30).await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("up to date")).await;
    tray::wait_for_icon("ok", 10).await;
    let search = s.wait_for("[data-testid=customer-search]", 5).await;
    s.type_into(&search, "Olsen").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.count("tbody tr").await == 0 {
        assert!(std::time::Instant::now() < deadline, "searching 'Olsen' found no customers");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    s.screenshot("customers").await;

    // Record a visit at the first customer found.
    s.wait_text("[data-testid=customer-row]", 10, |t| t.contains("Olsen")).await;
    let record = open_first_customer(&s).await;
    s.wait_text("[data-testid=customer-card]", 10, |t| t.contains("Recent orders") && t.contains("Price list")).await;
    s.screenshot("customer-card").await;
    s.click(&record).await;
    let notes = s.wait_for("[data-testid=visit-notes]", 5).await;
    s.type_into(&notes, "Met the buyer; wants the winter range.").await;
    s.click(&s.wait_for("[data-testid=save-visit]", 5).await).await;
    s.wait_text("[data-testid=customer-message]", 10, |t| t.contains("Visit saved")).await;
    s.screenshot("visit").await;

    // The server goes away; the rep takes an order with two lines offline.
    let addr = srv.stop_server().await;
    s.click(&s.wait_for("[data-testid=new-order]", 5).await).await;
    // Two products on sale (a discontinued one would ask for a confirm first).
    let mut on_sale = Vec::new();
    for button in s.wait_count("[data-testid=add-product]", 3, 10).await {
        if !s.text(&button).await.contains("discontinued") {
            on_sale.push(button);
        }
    }
    assert!(on_sale.len() >= 2, "the picker offers products on sale");
    s.click(&on_sale[0]).await;
    s.wait_count("[data-testid=order-line]", 1, 10).await;
    s.click(&on_sale[1]).await;
    s.wait_count("[data-testid=order-line]", 2, 10).await;
    let total = s.text(&s.wait_for("[data-testid=order-total]", 5).await).await;
    assert_ne!(total, "0.00", "the lines are priced from the customer's price list");
    s.screenshot("order-editor").await;
    // At 1366x768 the tabs keep one line with "Sync (N pending)" in them, and the editor
    // has the width of the window: its search box shows its whole placeholder.
    let layout = s
        .execute(
            "const nav = document.querySelector('nav').getBoundingClientRect();
             const tab = document.querySelector('nav button').getBoundingClientRect();
             const search = document.querySelector('[data-testid=product-search]');
             return { navRows: Math.round(nav.height / tab.height), searchWidth: search.clientWidth, window: window.innerWidth };",
        )
        .await;
    assert_eq!(layout["navRows"], 1, "the tabs wrapped: {layout}");
    assert!(layout["searchWidth"].as_f64().unwrap() > 600.0, "the order editor is squeezed: {layout}");
    s.click(&s.wait_for("[data-testid=submit-order]", 5).await).await;
    // Offline, the rep already has the order's number to give the customer.
    let said = s.wait_text("[data-testid=customer-message]", 10, |t| t.contains(" is submitted")).await;
    let number = said.strip_prefix("Order ").and_then(|t| t.split(' ').next()).unwrap_or_default().to_string();
    assert!(number.len() >= 6 && number.contains('-'), "no order number in {said:?}");
    s.wait_text("[data-testid=sync-tab]", 60, |t| t.contains("pending")).await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("offline")).await;
    tray::wait_for_icon("offline", 10).await;
    s.click(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
    s.screenshot("sync-offline").await;

    // The server is back: the background task reconnects and pushes everything.
    srv.restart_server(addr).await;
    s.wait_text("[data-testid=sync-summary]", 90, |t| t.contains("up to date")).await;
    s.wait_text("[data-testid=sync-tab]", 30, |t| !t.contains("pending")).await;
    tray::wait_for_icon("ok", 10).await;
    s.screenshot("sync-panel").await;

    // manager1 approves the order in a second session.
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let queue = manager.engine.review_queue(&Default::default()).unwrap();
    let order = queue.iter().find(|o| o.rep == "rep1" && o.lines == 2).expect("rep1's order reached the manager");
    assert_eq!(order.number.as_deref(), Some(number.as_str()), "the manager reads the number the rep gave");
    manager.engine.review(&order.id, true, Some("Go ahead")).unwrap();
    manager.sync().await;

    // rep1 sees "approved" (the open long poll brings it without a manual sync).
    let orders_tab = s.wait_for("[data-testid=orders-tab]", 5).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        s.click(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
        s.click(&orders_tab).await;
        let mut shown = Vec::new();
        for st in &s.find_all("[data-testid=order-status]").await {
            shown.push(s.text(st).await);
        }
        if shown.iter().any(|t| t.contains("Approved")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rep1 never saw the order approved: {shown:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    s.screenshot("orders").await;

    // A conflict: rep1 on another laptop and rep2 change the same phone number; rep2's
    // later edit wins, and this window's conflict log shows it with a one-click restore.
    let mut other_laptop = srv.client("rep1").await;
    let mut rep2 = srv.client("rep2").await;
    other_laptop.sync().await;
    rep2.sync().await;
    let customer = other_laptop.ids("customers")[0].clone();
    other_laptop.set("customers", &customer, &[("phone", "+47 1111 0000")]);
    rep2.set("customers", &customer, &[("phone", "+47 2222 0000")]);
    other_laptop.sync().await;
    rep2.sync().await;
    s.click(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
    let row = s.wait_text("[data-testid=conflict-row]", 60, |t| t.contains("Phone")).await;
    assert!(row.contains("+47 2222 0000 by rep2") && row.contains("+47 1111 0000 by rep1"), "{row}");
    s.wait_for("[data-testid=conflict-row] button", 5).await;
    s.screenshot("conflicts").await;

    // A change the server refuses raises one desktop notification naming the record and
    // the reason. Offline, rep1 records a visit; meanwhile the office moves that customer
    // to another territory; when the server is back, the visit is refused.
    let monitor = NotificationMonitor::start();
    s.click(&s.wait_for("[data-testid=customers-tab]", 5).await).await;
    s.wait_count("[data-testid=customer-row]", 1, 10).await;
    let addr = srv.stop_server().await;
    let record = open_first_customer(&s).await;
    let customer_code = s.text(&s.wait_for("[data-testid=customer-code]", 5).await).await;
    s.click(&record).await;
    let notes = s.wait_for("[data-testid=visit-notes]", 5).await;
    s.type_into(&notes, "Visit after the territory change").await;
    s.click(&s.wait_for("[data-testid=save-visit]", 5).await).await;
    s.wait_text("[data-testid=customer-message]", 10, |t| t.contains("Visit saved")).await;
    srv.with_db(|tx| {
        let reg = srv.config.registry.clone();
        fieldsync_server::admin::move_customers(
            tx,
            &reg,
            "SOUTH",
            std::slice::from_ref(&customer_code),
            1_764_000_000_000,
        )
        .unwrap()
    });
    srv.restart_server(addr).await;
    let (summary, body) = monitor.wait_for("your attention", 90);
    assert_eq!(summary, "A change needs your attention");
    assert!(body.contains("visit") && body.contains("outside your territories"), "notification body: {body}");
    assert!(!body.contains(".."), "one full stop per sentence: {body}");
    s.click(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
    s.wait_text("[data-testid=sync-state]", 30, |t| !t.is_empty()).await;
    s.screenshot("attention").await;

    // Another rep signs in on this laptop: never blocked by rep1's rejected change, and
    // working in a store of their own; rep1's change waits for rep1.
    s.click(&s.wait_for("[data-testid=sign-out]", 5).await).await;
    let anyway = s.wait_for("[role=alertdialog] button.primary", 5).await;
    s.click(&anyway).await;
    s.wait_text("[data-testid=waiting-changes]", 10, |t| t.contains("rep1: 1 rejected change to fix")).await;
    sign_in(&s, "rep3").await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("up to date")).await;
    assert_eq!(s.count("[data-testid=attention-badge]").await, 0, "rep3 sees none of rep1's changes");
    let sync_tab = s.text(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
    assert!(!sync_tab.contains("pending"), "rep3 has nothing pending: {sync_tab}");
    s.click(&s.wait_for("[data-testid=sign-out]", 5).await).await;
    sign_in(&s, "rep1").await;
    s.wait_text("[data-testid=attention-badge]", 30, |t| t.contains("1 to fix")).await;

    // The support desk asks for diagnostics: one click saves a zip and says where.
    s.click(&s.wait_for("[data-testid=sync-tab]", 5).await).await;
    s.click(&s.wait_for("[data-testid=export-diagnostics]", 5).await).await;
    let saved = s.wait_text("[data-testid=diagnostics-saved]", 10, |t| t.contains(".zip")).await;
    let zip_path = saved.split(" to ").nth(1).and_then(|rest| rest.split(".zip").next()).map(|p| format!("{p}.zip"));
    let zip_path = std::path::PathBuf::from(zip_path.unwrap_or_else(|| panic!("no path in {saved:?}")));
    s.close().await;

    // The session token is in the keyring and in no file of the profile.
    let profiles = fieldsync_client::profiles::Profiles::at(profile.path()).unwrap();
    let (rep1_profile, _) = profiles.dir_for(&srv.url, "rep1").unwrap();
    let account = format!("session:{}", rep1_profile.display());
    let token = keyring::Entry::new("fieldsync", &account).unwrap().get_password().expect("token in the keyring");
    assert_eq!(token.len(), 64);
    for file in files_under(profile.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "the token is in {}", file.display());
    }

    // The diagnostics hold the app's own log file and rep1's status, and no secret.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let (log, status, about) = (read("logs/fieldsync.log"), read("status.json"), read("about.json"));
    std::fs::remove_file(&zip_path).unwrap();
    assert!(log.contains("Fieldsync desktop started"), "{log}");
    assert!(status.contains("\"needs_attention\": 1") && status.contains("\"rep1\""), "{status}");
    assert!(about.contains("Fieldsync desktop"), "{about}");
    for text in [&log, &status, &about] {
        assert!(!text.contains(&token) && !text.contains("demo"), "a secret in the diagnostics");
    }
    drop(driver);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_reads_the_teams_week_and_approves_orders_in_bulk() {
    let srv = TestServer::demo().await;
    // rep1 has synced from a laptop of its own, so the dashboard lists it.
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(profile.path(), &srv.url).await;
    let app = workspace_bin("fieldsync-desktop");
    let s = Session::start(&driver.url, app.to_str().unwrap()).await;
    s.type_into(&s.wait_for("input[name=user]", 30).await, "manager1").await;
    s.type_into(&s.wait_for("input[name=password]", 5).await, "demo").await;
    s.click(&s.wait_for("button[type=submit]", 5).await).await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("up to date")).await;

    // The dashboard: this week's figures, the charts and the team's laptops.
    s.click(&s.wait_for("[data-testid=dashboard-tab]", 10).await).await;
    let open = s.wait_text("[data-testid=open-reviews]", 30, |t| t.contains("waiting for review")).await;
    let waiting: usize = open.split_whitespace().next().unwrap().parse().unwrap();
    assert!(waiting > 0, "{open}");
    s.wait_for("[data-testid=revenue-chart] canvas", 10).await;
    s.wait_text("[data-testid=laptops]", 30, |t| t.contains("rep1")).await;
    s.screenshot("dashboard").await;

    // Bulk review: everything waiting, one comment, one click.
    s.click(&s.wait_for("[data-testid=open-reviews]", 5).await).await;
    s.wait_count("[data-testid=review-row]", waiting, 30).await;
    s.click(&s.wait_for("[data-testid=select-all]", 5).await).await;
    s.wait_text("[data-testid=selection]", 10, |t| t.starts_with(&format!("{waiting} selected"))).await;
    s.type_into(&s.wait_for("[data-testid=review-comment]", 5).await, "Approved at the Monday review").await;
    s.screenshot("review").await;
    s.screenshot("review-bulk").await;
    s.click(&s.wait_for("[data-testid=approve-selected]", 5).await).await;
    s.wait_text("[role=status]", 30, |t| t.contains(&format!("{waiting} orders approved"))).await;
    // The background task pushes the decisions; the server has them all within a minute.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let approved: i64 = srv.with_db(|tx| {
            tx.value(
                "SELECT count(*) FROM order_reviews WHERE comment = 'Approved at the Monday review'",
                fieldsync_server::args![],
            )
            .unwrap()
        });
        if approved as usize == waiting {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{approved} of {waiting} approvals reached the server");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    s.close().await;
    drop(driver);
}

/// Every step of a rep's order, with the keyboard alone: sign in, find the customer, open
/// the card, start an order (Ctrl+N), add a product (Enter on the only match) and submit it.
#[tokio::test(flavor = "multi_thread")]
async fn a_rep_takes_an_order_with_the_keyboard_alone() {
    use webdriver::keys::{CONTROL, DOWN, ENTER, NULL, TAB};
    let srv = TestServer::demo().await;
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(profile.path(), &srv.url).await;
    let app = workspace_bin("fieldsync-desktop");
    let s = Session::start(&driver.url, app.to_str().unwrap()).await;

    // The user name has the focus at start.
    s.wait_for("input[name=user]", 30).await;
    s.press("rep1").await;
    s.press(TAB).await;
    s.press("demo").await;
    s.press(ENTER).await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("up to date")).await;

    // The customer search has the focus; Tab reaches the first result, an arrow the next,
    // Enter opens it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.focused().await != "customer-search" {
        assert!(std::time::Instant::now() < deadline, "the customer search never took the focus");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.press("Olsen").await;
    s.wait_text("[data-testid=customer-row]", 10, |t| t.contains("Olsen")).await;
    s.press(TAB).await;
    s.press(DOWN).await;
    s.press(ENTER).await;
    s.wait_for("[data-testid=customer-card]", 10).await;

    // Ctrl+N: a new order, its product search focused. An exact SKU has one match; Enter adds it.
    s.press(&format!("{CONTROL}n{NULL}")).await;
    s.wait_for("[data-testid=product-search]", 10).await;
    assert_eq!(s.focused().await, "product-search");
    let mut sku = String::new();
    for button in s.wait_count("[data-testid=add-product]", 3, 10).await {
        let text = s.text(&button).await;
        if !text.contains("discontinued") {
            sku = text.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    s.press(&sku).await;
    s.wait_count("[data-testid=add-product]", 1, 10).await;
    s.press(ENTER).await;
    s.wait_count("[data-testid=order-line]", 1, 10).await;

    // Tab on to "Submit order" and press Enter.
    for _ in 0..40 {
        if s.focused().await == "submit-order" {
            break;
        }
        s.press(TAB).await;
    }
    assert_eq!(s.focused().await, "submit-order", "Tab never reached Submit order");
    s.press(ENTER).await;
    s.wait_text("[data-testid=customer-message]", 10, |t| t.starts_with("Order ") && t.contains(" is submitted")).await;
    s.close().await;
    drop(driver);
}
