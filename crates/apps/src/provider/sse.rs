//! Server-sent events (`text/event-stream`), as OpenAI-compatible endpoints stream completions:
//! `data: …` lines, events separated by a blank line.

use std::io::{self, BufRead};

/// The data of each event of a server-sent event stream: the `data:` lines of one event joined
/// by `\n`. Comments (`:`) and the other fields (`event:`, `id:`, `retry:`) are skipped.
///
/// ```
/// use loam_apps::provider::SseEvents;
/// let stream = "data: {\"a\":1}\n\n: a comment\ndata: [DONE]\n\n";
/// let events: Vec<String> = SseEvents::new(stream.as_bytes()).collect::<Result<_, _>>().unwrap();
/// assert_eq!(events, ["{\"a\":1}", "[DONE]"]);
/// ```
pub struct SseEvents<R> {
    reader: R,
    line: String,
}

impl<R: BufRead> SseEvents<R> {
    /// Reads events from `reader`.
    pub fn new(reader: R) -> Self {
        SseEvents { reader, line: String::new() }
    }
}

impl<R: BufRead> Iterator for SseEvents<R> {
    type Item = io::Result<String>;

    fn next(&mut self) -> Option<io::Result<String>> {
        let mut data: Option<String> = None;
        loop {
            self.line.clear();
            match self.reader.read_line(&mut self.line) {
                Err(e) => return Some(Err(e)),
                Ok(0) => return data.map(Ok),
                Ok(_) => {}
            }
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if data.is_some() {
                    return data.map(Ok);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                }
            }
        }
    }
}
