//! The host's keys: the system key guards the management API (and admin-level triggers),
//! the function key guards function-level triggers. Both are made from the operating
//! system's CSPRNG on first use and kept in `keys.json` in the data folder, readable by the
//! owner only; `DURABLE_SYSTEM_KEY` and `DURABLE_FUNCTION_KEY` override them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The keys a host accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostKeys {
    /// Management API and admin-level triggers.
    pub system_key: String,
    /// Function-level triggers (the system key is accepted there too).
    pub function_key: String,
}

fn new_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes for a key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys.json")
}

impl HostKeys {
    /// Reads the keys from the data folder, making and storing them on first use; the
    /// environment overrides either.
    pub fn load_or_create(data_dir: &Path) -> Result<HostKeys, String> {
        let path = keys_path(data_dir);
        let mut keys = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a valid keys file: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = HostKeys {
                    system_key: new_key()?,
                    function_key: new_key()?,
                };
                write_private(&path, &keys)?;
                keys
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if let Ok(key) = std::env::var("DURABLE_SYSTEM_KEY")
            && !key.is_empty()
        {
            keys.system_key = key;
        }
        if let Ok(key) = std::env::var("DURABLE_FUNCTION_KEY")
            && !key.is_empty()
        {
            keys.function_key = key;
        }
        Ok(keys)
    }
}

/// Writes the keys file so only its owner can read it.
fn write_private(path: &Path, keys: &HostKeys) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(keys).map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
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
    fn comparison_needs_the_whole_key() {
        assert!(key_matches("abc", "abc"));
        assert!(!key_matches("abd", "abc"));
        assert!(!key_matches("ab", "abc"));
        assert!(!key_matches("", "abc"));
    }
}
