//! The system-wide configuration IT deploys for every user of a computer
//! ([`SYSTEM_CONFIG`]: `/etc/fieldsync/config.toml` on Linux, or the file named by
//! `FIELDSYNC_CONFIG`), read by the desktop app and the CLI alike. docs/INSTALLERS.md says
//! how each installer puts it in place.
//!
//! ```toml
//! server = "https://fieldsync.example.com"   # pre-fills sign-in
//! lock_server = true                         # users cannot change the address
//! ca_file = "/etc/fieldsync/company-ca.pem"  # trusted besides the OS certificate store
//! allow_insecure_http = false                # http:// to another host is refused
//! proxy = "http://proxy.example.com:3128"    # corporate proxy (else HTTPS_PROXY/HTTP_PROXY)
//! no_proxy = "localhost,.intranet.example"   # hosts reached directly (else NO_PROXY)
//! resend_days = 14                           # acknowledged changes kept for a restored server
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Server address shown on the sign-in screen.
    pub server: Option<String>,
    /// When true, the sign-in screen does not let users change the server address.
    #[serde(default)]
    pub lock_server: bool,
    /// PEM certificates (e.g. the company's private CA) trusted besides the OS store.
    /// `FIELDSYNC_CA_FILE` overrides it.
    pub ca_file: Option<PathBuf>,
    /// Allow plain `http://` to hosts other than this computer: passwords and data then
    /// travel unencrypted. Off unless IT says otherwise.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// The company's HTTP proxy, `http://[user:password@]host:port`, for every request.
    /// Without it the usual `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` variables apply.
    pub proxy: Option<String>,
    /// Hosts reached without the configured proxy, comma-separated as in `NO_PROXY` (which applies
    /// when this is not set): `localhost,10.0.0.0/8,.intranet.example`.
    pub no_proxy: Option<String>,
    /// Days a laptop keeps the changes the server acknowledged, to send them again to a
    /// server restored from an older backup (default `DEFAULT_RESEND_DAYS`, 14).
    pub resend_days: Option<u32>,
}

/// Where IT puts the system configuration, per operating system.
#[cfg(target_os = "windows")]
pub const SYSTEM_CONFIG: &str = r"C:\ProgramData\Fieldsync\config.toml";
#[cfg(target_os = "macos")]
pub const SYSTEM_CONFIG: &str = "/Library/Application Support/Fieldsync/config.toml";
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
pub const SYSTEM_CONFIG: &str = "/etc/fieldsync/config.toml";

impl SystemConfig {
    /// Reads the configuration. A missing file is no error; a broken one is reported with
    /// its path. `FIELDSYNC_SERVER` fills a missing server address, `FIELDSYNC_CA_FILE`
    /// replaces `ca_file`.
    pub fn load() -> Result<SystemConfig, String> {
        let path = config_path();
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<SystemConfig>(&text).map_err(|e| format!("{path} is not valid: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SystemConfig::default(),
            Err(e) => return Err(format!("cannot read {path}: {e}")),
        };
        if config.server.is_none() {
            config.server = std::env::var("FIELDSYNC_SERVER").ok();
        }
        if let Some(ca) = std::env::var_os("FIELDSYNC_CA_FILE").filter(|v| !v.is_empty()) {
            config.ca_file = Some(ca.into());
        }
        Ok(config)
    }

    /// The configuration to use when the file is broken: defaults, with the reason logged.
    pub fn load_or_default() -> SystemConfig {
        SystemConfig::load().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring the system configuration");
            SystemConfig::default()
        })
    }
}

/// The file [`SystemConfig::load`] reads: `FIELDSYNC_CONFIG`, else [`SYSTEM_CONFIG`].
pub fn config_path() -> String {
    std::env::var("FIELDSYNC_CONFIG").unwrap_or_else(|_| SYSTEM_CONFIG.to_string())
}

/// `url` with any `user:password@` replaced by `***@`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority_end..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// The password of a `scheme://user:password@host` address, if it has one.
pub fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password).filter(|p| !p.is_empty())
}

/// Refuses a server address that would send passwords and data unencrypted over a
/// network: `http://` is for this computer only (loopback), unless `allow_insecure_http`.
pub fn check_server_address(server: &str, allow_insecure_http: bool) -> Result<(), String> {
    let Some(rest) = server.strip_prefix("http://") else {
        return if server.starts_with("https://") {
            Ok(())
        } else {
            Err(format!("The server address {server} must start with https:// (or http:// for this computer)."))
        };
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback || allow_insecure_http {
        return Ok(());
    }
    Err(format!(
        "The server address {server} is not encrypted (http://), so your password and data could be read on the network; use https:// instead, or ask IT to allow it."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_this_computer_only_unless_it_allows_it() {
        for ok in ["https://fs.example.com", "http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:80"] {
            assert_eq!(check_server_address(ok, false), Ok(()), "{ok}");
        }
        for bad in ["http://fs.example.com", "http://10.0.0.5:8787", "http://127.0.0.1.evil.example"] {
            let err = check_server_address(bad, false).unwrap_err();
            assert!(err.contains("not encrypted") && err.contains("https://"), "{bad}: {err}");
            assert_eq!(check_server_address(bad, true), Ok(()), "{bad} when IT allows it");
        }
        assert!(check_server_address("ftp://x", true).is_err());
    }

    #[test]
    fn a_proxy_password_never_reaches_a_message() {
        let url = "http://alice:s3cret@proxy.example.com:3128/";
        assert_eq!(redact_url(url), "http://***@proxy.example.com:3128/");
        assert_eq!(url_password(url), Some("s3cret"));
        assert_eq!(redact_url("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(url_password("http://alice@proxy:3128"), None);
        assert_eq!(url_password("http://proxy:3128"), None);
    }
}
