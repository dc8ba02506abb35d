//! The host's keys and instance tokens.
//!
//! The system key guards the whole management API (and admin-level triggers); the function
//! key guards function-level triggers. An instance token is the credential the URLs of one
//! instance carry (check-status answers): an HMAC of the instance id under the host's token
//! secret, accepted on that instance's own routes only, so an anonymous caller who starts
//! an orchestration learns nothing that opens the rest of the hub.
//!
//! All three secrets come from the operating system's CSPRNG on first use and are kept in
//! `keys.json` in the data folder, readable by the owner only; `DURABLE_SYSTEM_KEY` and
//! `DURABLE_FUNCTION_KEY` override the keys. `keys rotate` replaces them in the file; a
//! running host reads the file again when it changes, so an old key is refused at once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What starts every instance token, so a token is told apart from a key.
const TOKEN_PREFIX: &str = "it_";

/// The keys a host accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKeys {
    /// Management API and admin-level triggers.
    #[serde(rename = "systemKey")]
    pub system_key: String,
    /// Function-level triggers (the system key is accepted there too).
    #[serde(rename = "functionKey")]
    pub function_key: String,
    /// The secret instance tokens are made with (files written before tokens existed get
    /// one on their next read).
    #[serde(rename = "instanceTokenSecret", default)]
    pub instance_token_secret: String,
    /// The token secret before the last rotation, with when it was replaced: its tokens are
    /// accepted during the host's grace period.
    #[serde(
        rename = "previousInstanceTokenSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_instance_token_secret: Option<RetiredSecret>,
}

/// A secret replaced by a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredSecret {
    /// The secret.
    #[serde(rename = "secret")]
    pub secret: String,
    /// When it was replaced.
    #[serde(rename = "retiredAt")]
    pub retired_at: DateTime<Utc>,
}

/// Which keys `keys rotate` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The system key, and with it the instance-token secret (a token stands in for the
    /// system key on one instance).
    pub system: bool,
    /// The function key.
    pub function: bool,
}

fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes for a key: {e}"))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys.json")
}

/// The environment variable that overrides a key, when it is set.
fn from_environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|key| !key.is_empty())
}

impl HostKeys {
    /// Reads the keys from the data folder, making and storing them on first use; the
    /// environment overrides the system and function keys.
    pub fn load_or_create(data_dir: &Path) -> Result<HostKeys, String> {
        let path = keys_path(data_dir);
        let mut keys = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut keys: HostKeys = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not a valid keys file: {e}", path.display()))?;
                if keys.instance_token_secret.is_empty() {
                    keys.instance_token_secret = new_secret()?;
                    write_private(&path, &keys)?;
                }
                keys
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = HostKeys {
                    system_key: new_secret()?,
                    function_key: new_secret()?,
                    instance_token_secret: new_secret()?,
                    previous_instance_token_secret: None,
                };
                write_private(&path, &keys)?;
                keys
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if let Some(key) = from_environment("DURABLE_SYSTEM_KEY") {
            keys.system_key = key;
        }
        if let Some(key) = from_environment("DURABLE_FUNCTION_KEY") {
            keys.function_key = key;
        }
        Ok(keys)
    }

    /// Replaces the keys `rotation` names in the data folder's file, keeping the retired
    /// token secret for the grace period of running hosts. Refused for a key the
    /// environment sets (the file's would not be used).
    pub fn rotate(data_dir: &Path, rotation: Rotation) -> Result<HostKeys, String> {
        for (rotated, variable) in [
            (rotation.system, "DURABLE_SYSTEM_KEY"),
            (rotation.function, "DURABLE_FUNCTION_KEY"),
        ] {
            if rotated && from_environment(variable).is_some() {
                return Err(format!(
                    "the key comes from {variable}, not from the keys file: change the variable instead"
                ));
            }
        }
        let mut keys = HostKeys::load_or_create(data_dir)?;
        if rotation.system {
            keys.system_key = new_secret()?;
            keys.previous_instance_token_secret = Some(RetiredSecret {
                secret: std::mem::replace(&mut keys.instance_token_secret, new_secret()?),
                retired_at: Utc::now(),
            });
        }
        if rotation.function {
            keys.function_key = new_secret()?;
        }
        write_private(&keys_path(data_dir), &keys)?;
        Ok(keys)
    }

    /// The token the URLs of `instance_id` carry.
    pub fn instance_token(&self, instance_id: &str) -> String {
        token(&self.instance_token_secret, instance_id)
    }

    /// Whether `presented` is the token of `instance_id`, made with the current secret or,
    /// within `grace` of the last rotation, with the one before.
    pub fn accepts_token(&self, presented: &str, instance_id: &str, grace: Duration) -> bool {
        let current = key_matches(presented, &self.instance_token(instance_id));
        let retired = self
            .previous_instance_token_secret
            .as_ref()
            .filter(|retired| {
                let age = Utc::now() - retired.retired_at;
                age.to_std().is_ok_and(|age| age <= grace)
            })
            .is_some_and(|retired| key_matches(presented, &token(&retired.secret, instance_id)));
        current | retired
    }
}

/// Whether a presented credential has the shape of an instance token.
pub fn looks_like_token(presented: &str) -> bool {
    presented.starts_with(TOKEN_PREFIX)
}

/// The instance token of `instance_id` under `secret`.
fn token(secret: &str, instance_id: &str) -> String {
    // HMAC accepts keys of any length: this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"durable-rs instance token\0");
    mac.update(instance_id.as_bytes());
    format!("{TOKEN_PREFIX}{}", hex(&mac.finalize().into_bytes()))
}

/// The keys of a serving host, read again from the data folder when the file changes, so
/// a rotation takes effect at once.
pub struct KeyStore {
    data_dir: PathBuf,
    current: Mutex<(Option<SystemTime>, HostKeys)>,
}

impl KeyStore {
    /// Loads (or makes) the keys of `data_dir`.
    pub fn open(data_dir: &Path) -> Result<KeyStore, String> {
        let keys = HostKeys::load_or_create(data_dir)?;
        Ok(KeyStore {
            data_dir: data_dir.to_path_buf(),
            current: Mutex::new((modified(data_dir), keys)),
        })
    }

    /// The keys now in effect.
    pub fn current(&self) -> HostKeys {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = modified(&self.data_dir);
        if stamp != current.0 {
            match HostKeys::load_or_create(&self.data_dir) {
                Ok(keys) => *current = (stamp, keys),
                // A file being written is read again on the next request; meanwhile the
                // keys read before stay in effect.
                Err(error) => tracing::warn!(%error, "cannot read the keys file again"),
            }
        }
        current.1.clone()
    }
}

fn modified(data_dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(keys_path(data_dir))
        .and_then(|m| m.modified())
        .ok()
}

/// Writes the keys file so only its owner can read it (replacing it whole).
fn write_private(path: &Path, keys: &HostKeys) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(keys).map_err(|e| e.to_string())?;
    let staged = path.with_extension("json.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&staged)
        .map_err(|e| format!("cannot create {}: {e}", staged.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", staged.display()))?;
    std::fs::rename(&staged, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

/// Compares a presented key with the expected one in time that does not depend on where
/// they differ.
pub fn key_matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = HostKeys::load_or_create(dir.path()).expect("created");
        assert_eq!(first.system_key.len(), 64);
        assert_ne!(first.system_key, first.function_key);
        assert_ne!(first.system_key, first.instance_token_secret);
        let again = HostKeys::load_or_create(dir.path()).expect("read");
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(keys_path(dir.path()))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_keys_file_without_a_token_secret_gets_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            keys_path(dir.path()),
            r#"{"systemKey":"s","functionKey":"f"}"#,
        )
        .expect("write");
        let keys = HostKeys::load_or_create(dir.path()).expect("read");
        assert_eq!(keys.system_key, "s");
        assert_eq!(keys.instance_token_secret.len(), 64);
        assert_eq!(HostKeys::load_or_create(dir.path()).expect("again"), keys);
    }

    #[test]
    fn a_token_opens_its_own_instance_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = HostKeys::load_or_create(dir.path()).expect("created");
        let token = keys.instance_token("order 42 ✓");
        assert!(looks_like_token(&token));
        assert!(keys.accepts_token(&token, "order 42 ✓", Duration::ZERO));
        assert!(!keys.accepts_token(&token, "order 43 ✓", Duration::ZERO));
        assert!(!keys.accepts_token(&keys.system_key, "order 42 ✓", Duration::ZERO));
    }

    #[test]
    fn rotation_replaces_the_keys_and_retires_tokens_after_the_grace_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = HostKeys::load_or_create(dir.path()).expect("created");
        let token = before.instance_token("i1");
        let only_function = Rotation {
            system: false,
            function: true,
        };
        let after = HostKeys::rotate(dir.path(), only_function).expect("rotated");
        assert_eq!(after.system_key, before.system_key);
        assert_ne!(after.function_key, before.function_key);
        assert!(after.accepts_token(&token, "i1", Duration::ZERO));
        let system = Rotation {
            system: true,
            function: false,
        };
        let after = HostKeys::rotate(dir.path(), system).expect("rotated");
        assert_ne!(after.system_key, before.system_key);
        assert!(!after.accepts_token(&token, "i1", Duration::ZERO));
        assert!(after.accepts_token(&token, "i1", Duration::from_secs(60)));
        assert_eq!(HostKeys::load_or_create(dir.path()).expect("read"), after);
    }

    #[test]
    fn comparison_needs_the_whole_key() {
        assert!(key_matches("abc", "abc"));
        assert!(!key_matches("abd", "abc"));
        assert!(!key_matches("ab", "abc"));
        assert!(!key_matches("", "abc"));
    }
}
