//! A minimal W3C WebDriver client over reqwest: just what the desktop tests need.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// W3C WebDriver key codes for [`Session::press`].
pub mod keys {
    pub const NULL: &str = "\u{E000}";
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const DOWN: &str = "\u{E015}";
    pub const CONTROL: &str = "\u{E009}";
}

pub struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    /// Opens a session on tauri-driver for the app binary at `application`.
    pub async fn start(driver: &str, application: &str) -> Session {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": application}}}});
        let resp: Value =
            http.post(format!("{driver}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id =
            resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {resp}")).to_string();
        Session { http, base: format!("{driver}/session/{id}") }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// Runs `script` (a function body) in the window; returns what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await["value"]
            .clone()
    }

    /// The first element matching `css`, if present now.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v["value"][ELEMENT].as_str().map(String::from)
    }

    /// Waits (polling the page, up to `secs`) until `css` matches, and returns it.
    pub async fn wait_for(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            assert!(Instant::now() < deadline, "'{css}' never appeared");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the text of `css` satisfies `pred`; returns the text.
    pub async fn wait_text(&self, css: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css).await {
                let t = self.text(&e).await;
                if pred(&t) {
                    return t;
                }
                assert!(Instant::now() < deadline, "'{css}' text stayed {t:?}");
            } else {
                assert!(Instant::now() < deadline, "'{css}' never appeared");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        self.find_all(css).await.len()
    }

    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        v["value"].as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str().map(String::from)).collect()
    }

    /// Waits until at least `n` elements match `css`.
    pub async fn wait_count(&self, css: &str, n: usize, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let found = self.find_all(css).await;
            if found.len() >= n {
                return found;
            }
            assert!(Instant::now() < deadline, "'{css}': {} of {n} elements", found.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text}))).await;
    }

    /// Presses `keys` on whatever has the focus, as a keyboard would: text, and the W3C
    /// key codes in [`keys`] (Tab, Enter, arrows; Control held until `keys::NULL`).
    pub async fn press(&self, keys: &str) {
        let v = self.call(reqwest::Method::GET, "/element/active", None).await;
        let active = v["value"][ELEMENT].as_str().unwrap_or_else(|| panic!("nothing has the focus: {v}")).to_string();
        self.type_into(&active, keys).await;
    }

    /// The `data-testid` of the element with the focus ("" when it has none).
    pub async fn focused(&self) -> String {
        self.execute("return document.activeElement?.dataset?.testid ?? '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Empties an input.
    pub async fn clear(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
    }

    pub async fn click(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    pub async fn text(&self, element: &str) -> String {
        let v = self.call(reqwest::Method::GET, &format!("/element/{element}/text"), None).await;
        v["value"].as_str().unwrap_or_default().to_string()
    }

    /// Saves a PNG of the screen (the app window) under target/screenshots/. Taken from
    /// the X server: WebKitWebDriver's own screenshot hangs under Xvfb without compositing.
    pub async fn screenshot(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("import")
            .args(["-window", "root"])
            .arg(dir.join(format!("{name}.png")))
            .status()
            .expect("ImageMagick's import");
        assert!(status.success(), "screenshot {name} failed");
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
