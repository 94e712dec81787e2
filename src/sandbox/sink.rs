//! Where a step's output goes: a line-by-line [`OutputSink`], a [`VecSink`] that keeps
//! everything, and a [`TailSink`] that keeps the last lines for a failure report.

use std::collections::VecDeque;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where a step's output goes, one line at a time (without the newline).
pub trait OutputSink {
    fn line(&mut self, stream: Stream, line: &str);
}

/// A sink that keeps every line: for tests, and for callers that print later.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VecSink {
    pub lines: Vec<(Stream, String)>,
}

impl VecSink {
    /// The lines of one stream.
    pub fn of(&self, stream: Stream) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

impl OutputSink for VecSink {
    fn line(&mut self, stream: Stream, line: &str) {
        self.lines.push((stream, line.to_string()));
    }
}

/// Longest line a [`TailSink`] keeps; the rest of a longer line is cut off (the whole line
/// was already shown as it streamed), so the tail holds a bounded number of bytes.
pub const TAIL_LINE_BYTES: usize = 4096;

/// Forwards every line to another sink and keeps the last `keep` for a failure report, each
/// cut at [`TAIL_LINE_BYTES`].
pub struct TailSink<'a> {
    inner: &'a mut dyn OutputSink,
    keep: usize,
    tail: VecDeque<(Stream, String)>,
}

impl<'a> TailSink<'a> {
    pub fn new(inner: &'a mut dyn OutputSink, keep: usize) -> TailSink<'a> {
        TailSink {
            inner,
            keep,
            tail: VecDeque::with_capacity(keep),
        }
    }

    /// The last lines seen, oldest first.
    pub fn tail(&self) -> Vec<(Stream, String)> {
        self.tail.iter().cloned().collect()
    }
}

impl OutputSink for TailSink<'_> {
    fn line(&mut self, stream: Stream, line: &str) {
        self.inner.line(stream, line);
        if self.keep == 0 {
            return;
        }
        if self.tail.len() == self.keep {
            self.tail.pop_front();
        }
        self.tail.push_back((stream, shorten(line)));
    }
}

/// `line` cut at a character boundary at most [`TAIL_LINE_BYTES`] in, with a note.
fn shorten(line: &str) -> String {
    if line.len() <= TAIL_LINE_BYTES {
        return line.to_string();
    }
    let mut cut = TAIL_LINE_BYTES;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} [… {} more bytes]", &line[..cut], line.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_sink_keeps_the_last_lines_and_forwards_all() {
        let mut all = VecSink::default();
        let mut tail = TailSink::new(&mut all, 2);
        for l in ["a", "b", "c"] {
            tail.line(Stream::Stdout, l);
        }
        tail.line(Stream::Stderr, "d");
        assert_eq!(
            tail.tail(),
            vec![(Stream::Stdout, "c".into()), (Stream::Stderr, "d".into())]
        );
        assert_eq!(all.lines.len(), 4);
        assert_eq!(all.of(Stream::Stdout), ["a", "b", "c"]);
    }

    #[test]
    fn tail_lines_are_bounded() {
        let mut all = VecSink::default();
        let mut tail = TailSink::new(&mut all, 2);
        let long = "é".repeat(TAIL_LINE_BYTES);
        tail.line(Stream::Stdout, &long);
        let kept = &tail.tail()[0].1;
        assert!(kept.len() < TAIL_LINE_BYTES + 40, "{}", kept.len());
        assert!(kept.ends_with(&format!("[… {} more bytes]", TAIL_LINE_BYTES)));
        assert_eq!(
            all.lines[0].1, long,
            "the sink behind it gets the whole line"
        );
    }
}
