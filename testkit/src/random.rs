//! Random strings for the opaque tokens and keys the emulators hand out.

/// `A-Z0-9`: AWS access key ids and role ids.
pub(crate) const UPPER_ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The standard base64 alphabet: AWS secrets and session tokens.
pub(crate) const BASE64: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The base64url alphabet: Google access tokens.
pub(crate) const BASE64_URL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `len` characters drawn from `alphabet` (which must be non-empty ASCII).
pub(crate) fn random_string(rng: &mut fastrand::Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
        .collect()
}

/// `len` characters drawn from `alphabet`, derived from `parts` alone: the same parts always
/// give the same string, and different parts (including the same text split differently) give
/// unrelated strings. SHA-256 of the length-prefixed parts, extended by a block counter.
pub(crate) fn derived_string(parts: &[&str], alphabet: &[u8], len: usize) -> String {
    use aws_lc_rs::digest::{Context, SHA256};

    let mut out = String::with_capacity(len);
    let mut block: u32 = 0;
    while out.len() < len {
        let mut hash = Context::new(&SHA256);
        hash.update(&block.to_be_bytes());
        for part in parts {
            hash.update(&(part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        for byte in hash.finish().as_ref() {
            if out.len() == len {
                break;
            }
            out.push(char::from(alphabet[usize::from(*byte) % alphabet.len()]));
        }
        block += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_strings_depend_on_the_parts_only() {
        let a = derived_string(&["aud", "sub"], BASE64_URL, 96);
        assert_eq!(a.len(), 96);
        assert!(a.bytes().all(|b| BASE64_URL.contains(&b)));
        assert_eq!(a, derived_string(&["aud", "sub"], BASE64_URL, 96));
        assert_ne!(a, derived_string(&["aud", "sub2"], BASE64_URL, 96));
        assert_ne!(a, derived_string(&["audsub"], BASE64_URL, 96));
        assert_ne!(a, derived_string(&["au", "dsub"], BASE64_URL, 96));
        assert_eq!(
            derived_string(&["aud", "sub"], BASE64_URL, 10),
            a[..10],
            "a prefix of the longer string"
        );
    }
}
