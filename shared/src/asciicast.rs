//! Session recordings in asciicast v2 (<https://docs.asciinema.org/manual/asciicast/v2/>):
//! one JSON header line, then one JSON array per event,
//! `[seconds, code, data]` — `"o"` output, `"r"` resize (`"80x24"`),
//! `"m"` marker. The relay writes them; the replay page and `asciinema
//! play` read them.

use serde::{Deserialize, Serialize};

/// The file name of audit entry `id`'s recording, `<id>.cast`, when `id`
/// can name a file: 1 to 64 letters, digits, `-` and `_`.
pub fn file_name(id: &str) -> Option<String> {
    let valid = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| format!("{id}.cast"))
}

/// The header line: `{"version":2,"width":80,"height":24,"timestamp":…,"title":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always 2.
    pub version: u8,
    /// Columns at the start.
    pub width: u16,
    /// Rows at the start.
    pub height: u16,
    /// When the session started: seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// What was recorded: `demo/shop · production · pod web-1 · container app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The command, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Header {
    /// A version 2 header.
    pub fn new(width: u16, height: u16, timestamp: u64, title: Option<String>) -> Header {
        Header { version: 2, width, height, timestamp: Some(timestamp), title, command: None }
    }

    /// The header line, with its newline.
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a header always serializes");
        line.push('\n');
        line
    }
}

/// What happened at one moment of the recording.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Output (`"o"`), as text (invalid UTF-8 replaced by U+FFFD).
    Output(String),
    /// The terminal's new size (`"r"`, `"<cols>x<rows>"`).
    Resize(u16, u16),
    /// A marker (`"m"`): the session's end and why, or the recording's.
    Marker(String),
}

impl Event {
    /// The event line at `seconds` from the start, with its newline:
    /// `[1.250000, "o", "ls\r\n"]`.
    pub fn line(&self, seconds: f64) -> String {
        let (code, data) = match self {
            Event::Output(text) => ("o", text.clone()),
            Event::Resize(cols, rows) => ("r", format!("{cols}x{rows}")),
            Event::Marker(label) => ("m", label.clone()),
        };
        let data = serde_json::to_string(&data).expect("a string always serializes");
        format!("[{seconds:.6}, \"{code}\", {data}]\n")
    }

    /// Parses one event line: `(seconds, event)`; `None` for a line that is
    /// not an event this format defines (readers skip those, as asciinema does).
    pub fn parse(line: &str) -> Option<(f64, Event)> {
        let (seconds, code, data): (f64, String, String) = serde_json::from_str(line).ok()?;
        let event = match code.as_str() {
            "o" => Event::Output(data),
            "r" => {
                let (cols, rows) = data.split_once('x')?;
                Event::Resize(cols.parse().ok()?, rows.parse().ok()?)
            }
            "m" => Event::Marker(data),
            _ => return None,
        };
        (seconds.is_finite() && seconds >= 0.0).then_some((seconds, event))
    }
}

/// A whole recording read from its text: the header and the events in
/// order. Lines that do not parse are skipped.
pub fn parse(text: &str) -> Option<(Header, Vec<(f64, Event)>)> {
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next()?).ok()?;
    if header.version != 2 {
        return None;
    }
    Some((header, lines.filter_map(Event::parse).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let header = Header::new(80, 24, 1_700_000_000, Some("demo/shop · production".into()));
        assert_eq!(
            header.line(),
            "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1700000000,\"title\":\"demo/shop · production\"}\n"
        );
        let events = [Event::Output("ls\r\n\u{1b}[1mé\"".into()), Event::Resize(120, 40), Event::Marker("exit status 3".into())];
        let mut text = header.line();
        for (i, e) in events.iter().enumerate() {
            text.push_str(&e.line(i as f64 * 0.5));
        }
        let (parsed, got) = parse(&text).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(got, events.iter().cloned().enumerate().map(|(i, e)| (i as f64 * 0.5, e)).collect::<Vec<_>>());
        assert_eq!(Event::Resize(80, 24).line(1.25), "[1.250000, \"r\", \"80x24\"]\n");
    }

    #[test]
    fn unknown_and_broken_lines_are_skipped() {
        let text = "{\"version\":2,\"width\":1,\"height\":1}\n[1, \"i\", \"x\"]\nnot json\n[2, \"r\", \"axb\"]\n[-1, \"o\", \"x\"]\n[3, \"o\", \"ok\"]\n";
        assert_eq!(parse(text).unwrap().1, vec![(3.0, Event::Output("ok".into()))]);
        assert!(parse("{\"version\":1,\"width\":1,\"height\":1}\n").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn only_audit_ids_name_files() {
        assert_eq!(file_name("abc_1-Z").as_deref(), Some("abc_1-Z.cast"));
        for bad in ["", "../x", "a/b", "a.b", "%2e"] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
        assert_eq!(file_name(&"a".repeat(65)), None);
    }
}
