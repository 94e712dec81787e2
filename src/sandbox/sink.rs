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

/// Forwards every line to another sink and keeps the last `keep` for a failure report.
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
        self.tail.push_back((stream, line.to_string()));
    }
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
}
