//! A value derived from the access token currently cached, recomputed only when the cache
//! hands out a different token.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::token::AccessToken;

/// Remembers one value derived from one token, by the token's identity: the cache returns the
/// same `Arc` until it refreshes, so pointer equality says "same token" without looking at
/// the secret. The token is held weakly, so this never keeps an old secret alive (a `Weak`
/// keeps the allocation, so the address cannot be reused by a newer token while we hold it).
pub(crate) struct Derived<T> {
    slot: Mutex<Option<(Weak<AccessToken>, T)>>,
}

impl<T: Clone> Derived<T> {
    pub(crate) fn new() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }

    /// The value for `token`, from `make` the first time this token is seen.
    #[cfg_attr(not(feature = "google-cloud-auth"), allow(dead_code))]
    pub(crate) fn get(&self, token: &Arc<AccessToken>, make: impl FnOnce() -> T) -> T {
        match self.try_get(token, || Ok::<_, std::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get`](Self::get), for a `make` that can fail; a failure is not remembered.
    pub(crate) fn try_get<E>(
        &self,
        token: &Arc<AccessToken>,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, value)) = &*slot
            && Weak::ptr_eq(seen, &Arc::downgrade(token))
        {
            return Ok(value.clone());
        }
        let value = make()?;
        *slot = Some((Arc::downgrade(token), value.clone()));
        Ok(value)
    }
}

impl<T> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recomputes_only_for_a_different_token() {
        let d = Derived::new();
        let a = Arc::new(AccessToken::new("a", None));
        let same_value = Arc::new(AccessToken::new("a", None));
        assert_eq!(d.get(&a, || 1), 1);
        assert_eq!(d.get(&a.clone(), || 2), 1);
        assert_eq!(
            d.get(&same_value, || 3),
            3,
            "a new token, even with the same value"
        );
        assert_eq!(d.get(&a, || 4), 4);
    }

    #[test]
    fn failures_are_not_remembered() {
        let d = Derived::new();
        let a = Arc::new(AccessToken::new("a", None));
        assert_eq!(d.try_get(&a, || Err("no")), Err("no"));
        assert_eq!(d.try_get(&a, || Ok::<_, &str>(1)), Ok(1));
        assert_eq!(d.try_get(&a, || Err("no")), Ok(1));
    }

    #[test]
    fn a_dropped_token_is_not_mistaken_for_a_new_one() {
        let d = Derived::new();
        let a = Arc::new(AccessToken::new("a", None));
        d.get(&a, || 1);
        drop(a);
        let b = Arc::new(AccessToken::new("b", None));
        assert_eq!(d.get(&b, || 2), 2);
    }
}
