//! Typed access to a JSON object with errors that name the field path, so a bad configuration
//! says `credential_source.format.type: expected a string` rather than a serde position.

use serde_json::{Map, Value};

use crate::error::Error;

/// A JSON object and the dotted path it sits at (`""` for the top level).
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(value: &'a Value, path: &str) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                path: path.to_string(),
            }),
            other => Err(Error::config(
                if path.is_empty() { "(file)" } else { path },
                format!("expected a JSON object, found {}", kind(other)),
            )),
        }
    }

    pub(crate) fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// Refuses a key that is not in `known` but within two edits of one of them (a typo that
    /// would otherwise silently drop a setting), naming its full path and the key meant.
    /// Other unknown keys are ignored with a DEBUG event: newer tools may write keys we do not
    /// know yet.
    pub(crate) fn check_keys(&self, known: &[&str]) -> Result<&Self, Error> {
        for key in self.map.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            if let Some(meant) = did_you_mean(key, known) {
                return Err(Error::config(
                    &self.field(key),
                    format!("unknown field; did you mean `{meant}`?"),
                ));
            }
            tracing::debug!(field = %self.field(key), "ignoring unknown field in the credential configuration");
        }
        Ok(self)
    }

    /// A string field; `null` counts as absent.
    pub(crate) fn str(&self, key: &str) -> Result<Option<String>, Error> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Error::config(
                &self.field(key),
                format!("expected a string, found {}", kind(other)),
            )),
        }
    }

    /// A required, non-empty string field.
    pub(crate) fn required_str(&self, key: &str) -> Result<String, Error> {
        match self.str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(Error::config(&self.field(key), "must not be empty")),
            None => Err(Error::config(&self.field(key), "is required")),
        }
    }

    /// An integer field (a whole JSON number, or a string holding one).
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Error::config(
                    &self.field(key),
                    format!("expected a whole number, found {n}"),
                )
            }),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                Error::config(
                    &self.field(key),
                    format!("expected a whole number, found \"{s}\""),
                )
            }),
            Some(other) => Err(Error::config(
                &self.field(key),
                format!("expected a whole number, found {}", kind(other)),
            )),
        }
    }

    /// A nested object field.
    pub(crate) fn object(&self, key: &str) -> Result<Option<Fields<'a>>, Error> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Fields::new(v, &self.field(key)).map(Some),
        }
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, Error> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(Error::config(
                        &self.field(key),
                        format!("expected strings, found {}", kind(other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(Error::config(
                &self.field(key),
                format!("expected an array of strings, found {}", kind(other)),
            )),
        }
    }

    /// An object whose values are all strings (e.g. `headers`).
    pub(crate) fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, Error> {
        let Some(obj) = self.object(key)? else {
            return Ok(Vec::new());
        };
        obj.map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(Error::config(
                    &obj.field(k),
                    format!("expected a string, found {}", kind(other)),
                )),
            })
            .collect()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The closest of `known` to `key` within two edits, for "did you mean" hints.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path() {
        let v: Value = serde_json::json!({"a": {"b": 1, "c": ["x", 2], "h": {"k": true}}, "n": "12", "f": 1.5});
        let top = Fields::new(&v, "").unwrap();
        let a = top.object("a").unwrap().unwrap();
        assert_eq!(
            a.str("b").unwrap_err().message(),
            "a.b: expected a string, found a number"
        );
        assert_eq!(
            a.strings("c").unwrap_err().message(),
            "a.c: expected strings, found a number"
        );
        assert_eq!(
            a.string_map("h").unwrap_err().message(),
            "a.h.k: expected a string, found a boolean"
        );
        assert_eq!(top.int("n").unwrap(), Some(12));
        assert!(top.int("f").is_err());
        assert_eq!(
            top.required_str("zz").unwrap_err().message(),
            "zz: is required"
        );
        assert!(Fields::new(&serde_json::json!([1]), "").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("audiance", &["audience", "token_url"]),
            Some("audience")
        );
        assert_eq!(did_you_mean("something_else", &["audience"]), None);
    }
}
