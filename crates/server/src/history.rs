//! Which history a sync cursor belongs to: the database's identity and its epoch.
//!
//! Every database gets a random id when it is created (migration `server/005_history`).
//! Its epoch starts with it and is replaced each time the database goes back in time:
//! `fieldsync-server restore`, or an open that finds an SQLite database older than what
//! this server last served (the [`Mark`] file beside it). A cursor token names the
//! database, the epoch and a change seq; clients store it without parsing it.
//!
//! A token from elsewhere ([`Place`]):
//! - from another database (re-created, or another company's at the same address): the
//!   client downloads a fresh copy and keeps its pending edits (`unknown_cursor`);
//! - from another epoch of this database (a restore), or from beyond the newest change:
//!   the client also sends again the acknowledged mutations it still holds, so a restored
//!   server gets back every change a laptop still has (`history_changed`).
//!
//! Seqs keep growing across epochs from where the restored database stood
//! (`epoch_start`), so a mutation edited in an earlier epoch counts every change of this
//! epoch as unseen ([`History::base_seq`]).

use fieldsync_protocol::ErrorCode;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::args;
use crate::error::AppError;
use crate::sql::{DbError, Tx};

/// Hex digits of the database id, and of the epoch id, that a cursor carries: 64 and 32
/// random bits tell databases and a database's epochs apart, and keep a no-op sync's request
/// and answer under 300 bytes each.
pub const DATABASE_DIGITS: usize = 16;
pub const EPOCH_DIGITS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// Random, fixed when the database was created (32 hex digits).
    pub database_id: String,
    /// Random, new with every epoch (16 hex digits).
    pub epoch_id: String,
    /// Epochs so far, 1 for a database never restored: for people, not for tokens.
    pub epoch: i64,
    /// The first seq of this epoch: changes below it were inherited from the previous one.
    pub epoch_start: i64,
}

/// Where a cursor token points, seen from this server's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// No cursor: the client has downloaded nothing yet.
    Start,
    /// A position in this epoch.
    Here(i64),
    /// A position in another epoch of this database.
    OtherEpoch(i64),
    /// Another database altogether.
    OtherDatabase,
}

impl History {
    pub fn read(tx: &Tx<'_>) -> Result<History, DbError> {
        Ok(History::read_with_head(tx)?.0)
    }

    /// The history and the change log's head ([`crate::records::head`]) in one statement:
    /// every pull and push needs both, and on PostgreSQL each statement is a round trip.
    pub fn read_with_head(tx: &Tx<'_>) -> Result<(History, i64), DbError> {
        let mut found = std::collections::HashMap::new();
        tx.for_each(
            "SELECT key, value FROM server_meta WHERE key IN ('database_id', 'epoch_id', 'epoch', 'epoch_start') \
             UNION ALL SELECT '', CAST(coalesce(max(seq), 0) AS TEXT) FROM changes",
            args![],
            |r| {
                found.insert(r.get::<String>(0)?, r.get::<String>(1)?);
                Ok(true)
            },
        )?;
        let text = |k: &str| found.get(k).cloned().ok_or_else(|| DbError::Other(format!("server_meta has no {k}")));
        let number = |k: &str| text(k)?.parse::<i64>().map_err(|e| DbError::Other(format!("server_meta {k}: {e}")));
        let history = History {
            database_id: text("database_id")?,
            epoch_id: text("epoch_id")?,
            epoch: number("epoch")?,
            epoch_start: number("epoch_start")?,
        };
        Ok((history, number("")?))
    }

    /// The token for position `seq` in this history.
    pub fn token(&self, seq: i64) -> String {
        format!("{}.{}.{seq}", self.database_part(), self.epoch_part())
    }

    /// The part of the database id a cursor carries: [`DATABASE_DIGITS`] hex digits.
    fn database_part(&self) -> &str {
        self.database_id.get(..DATABASE_DIGITS).unwrap_or(&self.database_id)
    }

    /// The part of the epoch id a cursor carries: [`EPOCH_DIGITS`] hex digits.
    fn epoch_part(&self) -> &str {
        self.epoch_id.get(..EPOCH_DIGITS).unwrap_or(&self.epoch_id)
    }

    /// Where `token` points; "" is the start. A token this server could never have
    /// issued is an error naming what is wrong with it.
    pub fn place(&self, token: &str) -> Result<Place, String> {
        if token.is_empty() || token == "0" {
            return Ok(Place::Start);
        }
        // A bare number is the cursor of a client from before tokens: a position in a
        // history nobody can name, treated as another epoch of this database (a pull
        // starts over; as a base cursor it saw nothing of this epoch).
        if let Ok(seq) = token.parse::<u64>() {
            return Ok(Place::OtherEpoch(i64::try_from(seq).unwrap_or(i64::MAX)));
        }
        let malformed =
            || "is not a cursor this server issued; pass back the cursor of the last page, or none".to_string();
        let mut parts = token.split('.');
        let (Some(db), Some(epoch), Some(seq), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        let seq: i64 = seq.parse().ok().filter(|s| *s >= 0).ok_or_else(malformed)?;
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(db, DATABASE_DIGITS) || !hex(epoch, EPOCH_DIGITS) {
            return Err(malformed());
        }
        Ok(match (db == self.database_part(), epoch == self.epoch_part()) {
            (false, _) => Place::OtherDatabase,
            (true, true) => Place::Here(seq),
            (true, false) => Place::OtherEpoch(seq),
        })
    }

    /// The seq up to which a mutation with base cursor `token` had seen this history's
    /// changes. An edit made in another epoch saw at most what this epoch inherited, and
    /// an edit made against another database saw nothing of this one.
    pub fn base_seq(&self, token: &str) -> Result<i64, String> {
        Ok(match self.place(token)? {
            Place::Start | Place::OtherDatabase => 0,
            Place::Here(seq) => seq,
            Place::OtherEpoch(seq) => seq.min(self.epoch_start - 1),
        })
    }

    /// Refuses a cursor that cannot be continued here, with the code that tells the client
    /// what to do: `unknown_cursor` (another database: download afresh) or
    /// `history_changed` (this database went back in time: send again what was
    /// acknowledged, then download afresh). Returns the position otherwise.
    pub fn continue_from(&self, token: &str, head: i64) -> Result<i64, AppError> {
        let place = self.place(token).map_err(|e| {
            AppError::bad(ErrorCode::InvalidCursor, format!("The cursor {e}."))
                .with_status(axum::http::StatusCode::BAD_REQUEST)
                .with_field("cursor")
        })?;
        match place {
            Place::Start => Ok(0),
            Place::Here(seq) if seq <= head => Ok(seq),
            Place::OtherDatabase => Err(AppError::bad(ErrorCode::UnknownCursor,
                "This server holds a different database than the one this copy was downloaded from; the app downloads a fresh copy and keeps the changes not yet sent.",
            )
            .with_cursor(self.token(0))),
            Place::Here(_) | Place::OtherEpoch(_) => Err(AppError::bad(ErrorCode::HistoryChanged,
                "The server's data was restored from an earlier backup; the app sends again the changes it still holds, then downloads a fresh copy.",
            )
            .with_cursor(self.token(0))),
        }
    }

    /// Starts a new epoch: the database went back in time (a restore). Seqs go on from the
    /// newest change the database holds.
    pub fn begin_epoch(tx: &Tx<'_>) -> Result<History, DbError> {
        let (old, head) = History::read_with_head(tx)?;
        let new = History {
            database_id: old.database_id,
            epoch_id: random_hex(8),
            epoch: old.epoch + 1,
            epoch_start: head + 1,
        };
        for (key, value) in [
            ("epoch_id", new.epoch_id.clone()),
            ("epoch", new.epoch.to_string()),
            ("epoch_start", new.epoch_start.to_string()),
        ] {
            tx.execute("UPDATE server_meta SET value = ?2 WHERE key = ?1", args![key, value])?;
        }
        Ok(new)
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an SQLite server last served, kept in a file beside the database (`history.json`):
/// a database found older than its mark went back in time by a route other than
/// `restore` (a file copied over it, a disk snapshot rolled back) and starts a new epoch
/// when opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub database_id: String,
    pub epoch_id: String,
    /// The highest seq the database had handed out.
    pub high_water: i64,
}

impl Mark {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("history.json")
    }

    /// The database's mark now: its history and the highest seq SQLite ever handed out
    /// (`sqlite_sequence`, which a restore takes back with the data).
    pub fn of(tx: &Tx<'_>) -> Result<Mark, DbError> {
        let history = History::read(tx)?;
        let high_water: i64 =
            tx.value("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)", args![])?;
        Ok(Mark { database_id: history.database_id, epoch_id: history.epoch_id, high_water })
    }

    pub fn load(data_dir: &Path) -> Option<Mark> {
        let text = std::fs::read_to_string(Mark::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the mark atomically (a temporary file renamed over the old one).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let tmp = data_dir.join("history.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, Mark::path(data_dir))
    }

    /// Whether `now` (the database as opened) is older than this mark of the same
    /// database: another epoch, or fewer seqs handed out.
    pub fn is_later_than(&self, now: &Mark) -> bool {
        self.database_id == now.database_id && (self.epoch_id != now.epoch_id || self.high_water > now.high_water)
    }
}

/// What `fieldsync-server restore` did.
pub struct Restored {
    pub history: History,
    /// Where the database the backup replaced was kept (SQLite, when there was one).
    pub kept: Option<PathBuf>,
}

/// Puts an SQLite backup (a copy of `fieldsync.db`, e.g. from `sqlite3 .backup` or
/// `VACUUM INTO`) in place of the database in `data_dir` and starts a new epoch. The
/// database it replaces is kept beside it, renamed. The server must be stopped.
pub fn restore_sqlite(data_dir: &Path, backup: &Path) -> anyhow::Result<Restored> {
    let source = open_backup(backup, "quick_check")?;
    let target = crate::db::db_path(data_dir);
    fieldsync_sqlkit::private_dir(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display()))?;
    let kept = match target.exists() {
        false => None,
        true => {
            let kept = data_dir.join(format!("fieldsync.db.replaced-{}", crate::db::now_ms()));
            for suffix in ["", "-wal", "-shm"] {
                let from = PathBuf::from(format!("{}{suffix}", target.display()));
                if from.exists() {
                    let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                    std::fs::rename(&from, &to)
                        .map_err(|e| anyhow::anyhow!("cannot move {} aside: {e}", from.display()))?;
                }
            }
            Some(kept)
        }
    };
    // The data directory is private (owner only), so the copy is never readable by others
    // before it is made private too.
    source
        .execute("VACUUM INTO ?1", [target.to_string_lossy()])
        .map_err(|e| anyhow::anyhow!("cannot copy the backup into {}: {e}", target.display()))?;
    fieldsync_sqlkit::private_file(&target)?;
    let history = restore_in_place(&crate::db::Location::Sqlite(data_dir.to_path_buf()))?;
    Ok(Restored { history, kept })
}

/// Opens an SQLite backup read-only after checking it (`check`: `quick_check`, or the
/// slower, thorough `integrity_check`) and that it is a Fieldsync server database.
fn open_backup(backup: &Path, check: &str) -> anyhow::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let source = rusqlite::Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| anyhow::anyhow!("cannot open the backup {}: {e}", backup.display()))?;
    let result: String = source
        .query_row(&format!("PRAGMA {check}"), [], |r| r.get(0))
        .map_err(|e| anyhow::anyhow!("{} is not an SQLite database: {e}", backup.display()))?;
    anyhow::ensure!(result == "ok", "the backup {} is damaged: {result}", backup.display());
    let ours: bool = source
        .query_row("SELECT count(*) = 2 FROM sqlite_master WHERE name IN ('changes', 'applied_mutations')", [], |r| {
            r.get(0)
        })
        .map_err(|e| anyhow::anyhow!("cannot read the backup {}: {e}", backup.display()))?;
    anyhow::ensure!(ours, "{} is not a backup of a Fieldsync server database", backup.display());
    Ok(source)
}

/// What `fieldsync-server backup` made.
pub struct Backup {
    pub bytes: u64,
    pub head: i64,
}

/// Copies the SQLite database in `data_dir` to `to` while the server runs, with SQLite's
/// online backup API in one step: one read snapshot (in WAL mode writers go on; pushes are
/// not stopped), so the copy is consistent. It is written beside `to` and renamed into
/// place only once `integrity_check` passed, so `to` never holds half a backup; the file is
/// readable by its owner only. An existing `to` is refused.
pub fn backup_sqlite(data_dir: &Path, to: &Path) -> anyhow::Result<Backup> {
    anyhow::ensure!(!to.exists(), "{} already exists; name a new file (e.g. with the date) or remove it", to.display());
    let source_path = crate::db::db_path(data_dir);
    anyhow::ensure!(source_path.exists(), "there is no database at {} to back up", source_path.display());
    let source = fieldsync_sqlkit::open(&source_path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", source_path.display()))?;
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut copy = rusqlite::Connection::open(&partial)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", partial.display()))?;
        fieldsync_sqlkit::private_file(&partial)?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
            // -1: every page in one step, under one read snapshot.
            backup.step(-1).map_err(|e| anyhow::anyhow!("the backup stopped: {e}"))?;
        }
        drop(copy);
        let head: i64 = open_backup(&partial, "integrity_check")?.query_row(
            "SELECT coalesce(max(seq), 0) FROM changes",
            [],
            |r| r.get(0),
        )?;
        std::fs::rename(&partial, to)
            .map_err(|e| anyhow::anyhow!("cannot move the backup to {}: {e}", to.display()))?;
        Ok(Backup { bytes: std::fs::metadata(to)?.len(), head })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Starts a new epoch on a database put back by other means (`pg_restore`, a file copy):
/// `fieldsync-server restore --in-place`. On SQLite the history mark is replaced, so the
/// open does not start an epoch of its own first.
pub fn restore_in_place(location: &crate::db::Location) -> anyhow::Result<History> {
    if let crate::db::Location::Sqlite(dir) = location {
        match std::fs::remove_file(Mark::path(dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!("cannot replace {}: {e}", Mark::path(dir).display())
            }
            _ => {}
        }
    }
    let db = crate::db::Db::open(location, &fieldsync_protocol::Registry::standard(), &[])?;
    let history = db.write_blocking(History::begin_epoch)?;
    if let crate::db::Location::Sqlite(dir) = location {
        db.read_blocking(Mark::of)?
            .save(dir)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", Mark::path(dir).display()))?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        History { database_id: "a".repeat(32), epoch_id: "b".repeat(16), epoch: 2, epoch_start: 100 }
    }

    #[test]
    fn a_token_names_database_and_epoch() {
        let h = history();
        assert_eq!(h.place(&h.token(42)), Ok(Place::Here(42)));
        assert_eq!(h.place(""), Ok(Place::Start));
        let other_epoch = format!("{}.{}.150", "a".repeat(16), "c".repeat(8));
        assert_eq!(h.place(&other_epoch), Ok(Place::OtherEpoch(150)));
        assert_eq!(h.base_seq(&other_epoch), Ok(99), "an edit of another epoch saw nothing of this one");
        let other_db = format!("{}.{}.5", "d".repeat(16), "b".repeat(8));
        assert_eq!(h.place(&other_db), Ok(Place::OtherDatabase));
        assert_eq!(h.base_seq(&other_db), Ok(0));
        assert_eq!(h.place("0"), Ok(Place::Start), "what scripts from before tokens send");
        assert_eq!(h.place("42"), Ok(Place::OtherEpoch(42)));
        assert_eq!(h.base_seq("42"), Ok(42), "below epoch_start: as seen then");
        assert_eq!(h.base_seq("420"), Ok(99), "at most what this epoch inherited");
        for bad in ["-3", "x.y.z", &format!("{}.{}.-1", "a".repeat(16), "b".repeat(8)), &format!("{}.1", h.token(1))] {
            assert!(h.place(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_cursor_beyond_the_head_or_from_another_epoch_means_the_history_changed() {
        let h = history();
        assert_eq!(h.continue_from(&h.token(120), 130).unwrap(), 120);
        let code = |r: Result<i64, AppError>| match r {
            Err(AppError::BadInput { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(h.continue_from(&h.token(131), 130)), ErrorCode::HistoryChanged);
        assert_eq!(
            code(h.continue_from(&format!("{}.{}.5", "a".repeat(16), "c".repeat(8)), 130)),
            ErrorCode::HistoryChanged
        );
        assert_eq!(
            code(h.continue_from(&format!("{}.{}.5", "e".repeat(16), "b".repeat(8)), 130)),
            ErrorCode::UnknownCursor
        );
        assert_eq!(code(h.continue_from("nonsense", 130)), ErrorCode::InvalidCursor);
    }

    #[test]
    fn a_mark_catches_a_database_that_went_back() {
        let mark = Mark { database_id: "a".into(), epoch_id: "b".into(), high_water: 50 };
        let same = mark.clone();
        assert!(!mark.is_later_than(&same));
        assert!(mark.is_later_than(&Mark { high_water: 40, ..same.clone() }));
        assert!(mark.is_later_than(&Mark { epoch_id: "c".into(), high_water: 60, ..same.clone() }));
        assert!(!mark.is_later_than(&Mark { database_id: "z".into(), high_water: 1, ..same }));
    }
}
