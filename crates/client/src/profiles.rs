//! One local store per person on a shared computer. The desktop app keeps a directory of
//! profiles, one per (server, user): signing in as someone else opens (or creates) their
//! profile instead of emptying the current one, so nobody is ever blocked by another
//! user's unsynced changes, and nobody sees another user's data. The changes wait in
//! their owner's profile until that person signs in again.
//!
//! A profile is found by what its store says it belongs to (`meta` server and user), not
//! by its directory name; names are only readable hints (`rep1@sales.example.com`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::{Engine, EngineOptions};

/// The file in the profiles directory naming the profile used last.
const CURRENT: &str = "current";

/// The profiles directory.
pub struct Profiles {
    root: PathBuf,
}

/// A profile's owner and what it still holds for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ProfileSummary {
    pub server: String,
    pub user: String,
    /// Changes made here and not yet sent.
    #[ts(type = "number")]
    pub pending: i64,
    /// Changes the server refused, waiting for their owner to fix or discard.
    #[ts(type = "number")]
    pub needs_attention: i64,
}

impl Profiles {
    /// The profiles under `root`, created (owner-only) when missing.
    pub fn at(root: &Path) -> Result<Profiles> {
        fieldsync_sqlkit::private_dir(root).map_err(|e| {
            ClientError::BadInput(format!("cannot create the profiles directory {}: {e}", root.display()))
        })?;
        Ok(Profiles { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The profile used last, if it still exists.
    pub fn current(&self) -> Option<PathBuf> {
        let name = std::fs::read_to_string(self.root.join(CURRENT)).ok()?;
        let dir = self.root.join(name.trim());
        (!name.trim().is_empty() && dir.is_dir()).then_some(dir)
    }

    /// Remembers `dir` as the profile to open at the next start.
    pub fn set_current(&self, dir: &Path) -> Result<()> {
        let name = dir.file_name().and_then(|n| n.to_str()).filter(|_| dir.parent() == Some(&self.root));
        let name = name.ok_or_else(|| ClientError::Internal(format!("{} is not a profile", dir.display())))?;
        std::fs::write(self.root.join(CURRENT), name)
            .map_err(|e| ClientError::Internal(format!("cannot remember the current profile: {e}")))
    }

    /// The profile of `user` on `server`: the existing one, or a new empty directory
    /// (`true`) that becomes theirs once they sign in.
    pub fn dir_for(&self, server: &str, user: &str) -> Result<(PathBuf, bool)> {
        let server = server.trim_end_matches('/');
        for dir in self.dirs()? {
            if let Some((s, u, _)) = owner(&dir)? {
                if s == server && u == user {
                    return Ok((dir, false));
                }
            }
        }
        let host = server.split("://").nth(1).unwrap_or(server);
        let base: String = format!("{user}@{host}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "@.-_".contains(c) { c } else { '_' })
            .collect();
        let dir = (1..)
            .map(|n| self.root.join(if n == 1 { base.clone() } else { format!("{base}-{n}") }))
            .find(|d| !d.exists())
            .expect("some name is free");
        Ok((dir, true))
    }

    /// Every profile that belongs to someone, with what it still holds.
    pub fn list(&self) -> Result<Vec<ProfileSummary>> {
        let mut out = Vec::new();
        for dir in self.dirs()? {
            if let Some((server, user, engine)) = owner(&dir)? {
                let status = engine.status()?;
                out.push(ProfileSummary {
                    server,
                    user,
                    pending: status.pending,
                    needs_attention: status.needs_attention,
                });
            }
        }
        out.sort_by(|a, b| (&a.user, &a.server).cmp(&(&b.user, &b.server)));
        Ok(out)
    }

    /// Whether `dir` has never belonged to anyone (a sign-in that failed, a first start).
    pub fn is_blank(&self, dir: &Path) -> Result<bool> {
        Ok(owner(dir)?.is_none())
    }

    fn dirs(&self) -> Result<Vec<PathBuf>> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| ClientError::Internal(format!("cannot read {}: {e}", self.root.display())))?;
        Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("fieldsync.db").is_file()).collect())
    }
}

/// The server and user a profile belongs to (and the engine that read it), or `None`
/// when nobody ever signed in with it.
fn owner(dir: &Path) -> Result<Option<(String, String, Engine)>> {
    if !dir.join("fieldsync.db").is_file() {
        return Ok(None);
    }
    let engine =
        Engine::open_with(dir, EngineOptions { tokens: Some(std::sync::Arc::new(NoTokens)), ..Default::default() })?;
    let (server, user) = (engine.store().meta("server")?, engine.store().meta("user")?);
    Ok(server.zip(user).map(|(s, u)| (s, u, engine)))
}

/// Reading a profile's owner needs no session token, and must not touch the keyring.
struct NoTokens;

impl crate::TokenStore for NoTokens {
    fn load(&self) -> Result<Option<String>> {
        Ok(None)
    }
    fn save(&self, _: &str) -> Result<()> {
        Err(ClientError::Internal("a profile opened to be listed cannot sign in".into()))
    }
    fn clear(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(profiles: &Profiles, server: &str, user: &str) -> PathBuf {
        let (dir, new) = profiles.dir_for(server, user).unwrap();
        assert!(new);
        let engine = Engine::open(&dir).unwrap();
        engine.store().set_meta("server", server).unwrap();
        engine.store().set_meta("user", user).unwrap();
        dir
    }

    #[test]
    fn each_user_on_each_server_has_one_profile_found_again_by_its_owner() {
        let root = tempfile::tempdir().unwrap();
        let profiles = Profiles::at(&root.path().join("profiles")).unwrap();
        let rep1 = owned(&profiles, "https://sales.example.com", "rep1");
        let rep2 = owned(&profiles, "https://sales.example.com", "rep2");
        let other = owned(&profiles, "https://test.example.com:8443", "rep1");
        assert_eq!(rep1.file_name().unwrap(), "rep1@sales.example.com");
        assert_eq!(other.file_name().unwrap(), "rep1@test.example.com_8443");
        assert_ne!(rep1, rep2);
        assert_eq!(profiles.dir_for("https://sales.example.com/", "rep1").unwrap(), (rep1.clone(), false));
        assert_eq!(profiles.dir_for("https://test.example.com:8443", "rep1").unwrap(), (other, false));

        // A new user whose readable name is taken (by a profile of an older address) gets
        // a directory of their own all the same.
        std::fs::create_dir(profiles.root().join("rep3@sales.example.com")).unwrap();
        let (rep3, new) = profiles.dir_for("https://sales.example.com", "rep3").unwrap();
        assert!(new);
        assert_eq!(rep3.file_name().unwrap(), "rep3@sales.example.com-2");

        assert_eq!(profiles.current(), None);
        profiles.set_current(&rep2).unwrap();
        assert_eq!(profiles.current(), Some(rep2));
    }

    #[test]
    fn the_list_names_each_owner_with_what_waits_for_them_and_skips_blank_profiles() {
        let root = tempfile::tempdir().unwrap();
        let profiles = Profiles::at(root.path()).unwrap();
        let rep1 = owned(&profiles, "https://sales.example.com", "rep1");
        let mut engine = Engine::open(&rep1).unwrap();
        engine
            .create(
                "customers",
                engine
                    .parse_sets(
                        "customers",
                        &[
                            ("name".into(), "Kiosk".into()),
                            ("code".into(), "K1".into()),
                            ("territory_id".into(), uuid::Uuid::now_v7().to_string()),
                        ],
                    )
                    .unwrap(),
            )
            .unwrap();
        let (blank, _) = profiles.dir_for("https://sales.example.com", "rep2").unwrap();
        Engine::open(&blank).unwrap();
        assert!(profiles.is_blank(&blank).unwrap());
        assert!(!profiles.is_blank(&rep1).unwrap());
        assert_eq!(
            profiles.list().unwrap(),
            vec![ProfileSummary {
                server: "https://sales.example.com".into(),
                user: "rep1".into(),
                pending: 1,
                needs_attention: 0
            }]
        );
    }
}
