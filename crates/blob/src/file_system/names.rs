//! How container and object names become file names.
//!
//! A name is percent-encoded byte by byte: ASCII letters, digits, `-`, `_`
//! and `.` (except as the first byte) stay as they are, every other byte is
//! `%XX`. So a stored name is one path component that is never empty, never
//! `.` or `..`, never hidden, and holds no `/`, NUL or other special byte:
//! no name can reach outside its directory, whatever it contains (`../x`,
//! `/etc/passwd`, NUL, `~`, unicode). Encoding is one-to-one, so listing a
//! directory gives back the original names; files whose names are not an
//! encoding (put there by hand) are not objects.
//!
//! An encoding longer than [`MAX_PLAIN`] bytes (file names are limited to
//! 255 bytes; a long unicode name triples when encoded) is stored as `~`
//! and the SHA-256 of the name in hex, with the name itself in a file
//! beside it, `~<hex>.name`. `~` is always encoded in plain names, so the
//! two kinds never meet.

use sha2::{Digest, Sha256};

/// The longest encoding stored as itself.
pub(crate) const MAX_PLAIN: usize = 200;

/// The first character of a hashed file name.
pub(crate) const HASHED: char = '~';

/// The suffix of the file holding a hashed object's name.
pub(crate) const NAME_SUFFIX: &str = ".name";

/// The file name a container or object name is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileName {
    /// The name's encoding.
    Plain(String),
    /// `~<sha256 hex>`, for a name whose encoding is too long.
    Hashed(String),
}

impl FileName {
    /// The file name of `name`.
    pub(crate) fn of(name: &str) -> Self {
        let encoded = encode(name);
        if encoded.len() <= MAX_PLAIN {
            FileName::Plain(encoded)
        } else {
            FileName::Hashed(format!("{HASHED}{}", hex::encode(Sha256::digest(name))))
        }
    }

    /// The file name itself.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            FileName::Plain(name) | FileName::Hashed(name) => name,
        }
    }

    /// For a hashed name, the file holding the original name.
    pub(crate) fn name_file(&self) -> Option<String> {
        match self {
            FileName::Plain(_) => None,
            FileName::Hashed(hashed) => Some(format!("{hashed}{NAME_SUFFIX}")),
        }
    }
}

/// Whether `hashed` (a `~<hex>` file name) is the hash of `name`.
pub(crate) fn hashed_matches(hashed: &str, name: &str) -> bool {
    FileName::of(name) == FileName::Hashed(hashed.to_string())
}

fn keep(byte: u8, first: bool) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || (byte == b'.' && !first)
}

/// The percent-encoding of `name`.
pub(crate) fn encode(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len());
    for (i, &byte) in name.as_bytes().iter().enumerate() {
        if keep(byte, i == 0) {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
    out
}

/// The name `file` is the encoding of, if it is exactly one (so a file
/// name that merely decodes, e.g. `a b` or `%41`, is not taken for `a b` or
/// `A`).
pub(crate) fn decode(file: &str) -> Option<String> {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = file.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (!name.is_empty() && encode(&name) == file).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_into_one_safe_component() {
        let cases = [
            ("photo.jpg", "photo.jpg"),
            ("a/b", "a%2Fb"),
            ("..", "%2E."),
            (".hidden", "%2Ehidden"),
            ("../etc/passwd", "%2E.%2Fetc%2Fpasswd"),
            ("/abs", "%2Fabs"),
            ("nul\0byte", "nul%00byte"),
            ("100%", "100%25"),
            ("~home", "%7Ehome"),
            ("späße", "sp%C3%A4%C3%9Fe"),
            ("a b", "a%20b"),
        ];
        for (name, file) in cases {
            assert_eq!(encode(name), file, "{name:?}");
            assert_eq!(decode(file).as_deref(), Some(name), "{file:?}");
            assert!(!file.contains('/') && file != "." && file != "..");
        }
    }

    #[test]
    fn only_canonical_encodings_decode() {
        for file in ["a b", "%41", "%2e.", "%", "%G1", ".x", "", "%FF", "~abc"] {
            assert_eq!(decode(file), None, "{file:?}");
        }
    }

    #[test]
    fn long_names_are_hashed() {
        let short = "x".repeat(MAX_PLAIN);
        assert_eq!(FileName::of(&short), FileName::Plain(short.clone()));
        assert_eq!(FileName::of(&short).name_file(), None);
        let long = "ü".repeat(40); // 80 bytes, 240 encoded
        let file = FileName::of(&long);
        let FileName::Hashed(hashed) = &file else {
            panic!("{file:?}")
        };
        assert_eq!(hashed.len(), 65);
        assert!(hashed.starts_with(HASHED));
        assert!(hashed_matches(hashed, &long));
        assert!(!hashed_matches(hashed, "other"));
        assert_eq!(file.name_file(), Some(format!("{hashed}.name")));
        assert_eq!(decode(hashed), None);
    }
}
