//! Small helpers every role uses for secrets: files only their owner may
//! read, random ids and tokens, and a comparison that takes the same time
//! whatever the contents. No other module of this crate is imported here.

use std::path::Path;

/// Writes a file readable by its owner only (mode 0600), creating parents.
///
/// Errors: any I/O error creating the folder or writing the file.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents)
}

/// The secret kept in `path` (surrounding whitespace trimmed); when the file
/// does not exist, `generate()` makes one and it is written with
/// [`write_private`] first. Used for the runner token, the local cluster's
/// tokens and the Workhorse secret.
///
/// Errors: I/O errors reading or writing the file.
pub fn load_or_create(path: &Path, generate: impl FnOnce() -> String) -> std::io::Result<String> {
    if !path.exists() {
        write_private(path, generate().as_bytes())?;
    }
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}

/// A random string of `n` characters from `[a-z0-9]` (about 5.2 bits each).
pub fn random_id(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// Lowercase hex of `n` random bytes.
pub fn random_hex(n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// Equal-length inputs take the same time whatever their contents (for
/// comparing presented tokens with the expected one).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn secrets_are_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/token");
        let first = load_or_create(&path, || random_hex(24)).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(load_or_create(&path, || unreachable!("exists")).unwrap(), first);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn random_ids_have_the_asked_length_and_alphabet() {
        let id = random_id(32);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(random_id(32), id);
    }
}
