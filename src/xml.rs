//! A tiny reader that flattens an XML document into `(path, text)` pairs, e.g.
//! `("ErrorResponse/Error/Code", "Throttling")`. Namespaces are dropped and element order does
//! not matter, which is all the AWS query-protocol responses need. Parsing is done by
//! quick-xml; this module only walks its events.

use quick_xml::Reader;
use quick_xml::events::Event;
use zeroize::Zeroize;

/// The text leaves of a document, by slash-separated path of local element names.
/// Values are zeroized on drop because they can hold secret keys.
#[derive(Default)]
pub(crate) struct XmlLeaves {
    leaves: Vec<(String, String)>,
}

impl XmlLeaves {
    /// Parses `body`. Returns `None` when it is not well-formed XML.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut reader = Reader::from_reader(body);
        let mut stack: Vec<String> = Vec::new();
        let mut out = XmlLeaves::default();
        let mut buf = Vec::new();
        let mut saw_root = false;
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) => {
                    saw_root = true;
                    stack.push(e.local_name().as_ref().to_string());
                }
                Ok(Event::Empty(e)) => {
                    saw_root = true;
                    let mut path = stack.join("/");
                    if !path.is_empty() {
                        path.push('/');
                    }
                    path.push_str(e.local_name().as_ref());
                    out.leaves.push((path, String::new()));
                }
                Ok(Event::End(_)) => {
                    stack.pop()?;
                }
                Ok(Event::Text(t)) => {
                    let text = t.xml10_content().into_owned();
                    out.push_text(&stack, text);
                }
                Ok(Event::GeneralRef(r)) => {
                    // An entity reference inside text, e.g. `&amp;`.
                    let name = r.as_ref().to_string();
                    let resolved = match name.as_str() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        _ => r.resolve_char_ref().ok().flatten().map(String::from)?,
                    };
                    out.push_text(&stack, resolved);
                }
                Ok(Event::CData(c)) => {
                    let text = c.into_inner().into_owned();
                    out.push_text(&stack, text);
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(_) => return None,
            }
            buf.clear();
        }
        if !stack.is_empty() || !saw_root {
            return None;
        }
        Some(out)
    }

    fn push_text(&mut self, stack: &[String], text: String) {
        if stack.is_empty() {
            return;
        }
        let path = stack.join("/");
        let continues_last = self.leaves.last().is_some_and(|(p, _)| *p == path);
        if text.trim().is_empty() && !continues_last {
            return;
        }
        match self.leaves.last_mut() {
            Some((p, v)) if *p == path => v.push_str(&text),
            _ => self.leaves.push((path, text)),
        }
    }

    /// The text at `path`, if present.
    pub(crate) fn get(&self, path: &str) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.trim())
    }

    /// The local name of the root element.
    pub(crate) fn root(&self) -> Option<&str> {
        self.leaves
            .first()
            .map(|(p, _)| p.split('/').next().unwrap_or(p))
    }
}

impl Drop for XmlLeaves {
    fn drop(&mut self) {
        for (_, v) in &mut self.leaves {
            v.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_with_namespaces_entities_and_any_order() {
        let doc = br#"<?xml version="1.0"?>
<a:Root xmlns:a="urn:x"><B><C>one &amp; two</C><Empty/></B><D><![CDATA[<raw>]]></D></a:Root>"#;
        let x = XmlLeaves::parse(doc).unwrap();
        assert_eq!(x.get("Root/B/C"), Some("one & two"));
        assert_eq!(x.get("Root/B/Empty"), Some(""));
        assert_eq!(x.get("Root/D"), Some("<raw>"));
        assert_eq!(x.root(), Some("Root"));
        assert_eq!(x.get("Root/Missing"), None);
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"plain text",
            b"<html><body>502",
        ] {
            assert!(
                XmlLeaves::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
