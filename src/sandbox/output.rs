//! Reading a step's output with bounded memory: each stream is read in fixed-size chunks,
//! passed through the terminal filter ([`super::termfilter`]), and split into lines of at most
//! [`MAX_LINE`] bytes, which go to the runner through a bounded channel. When the runner cannot
//! keep up (melwrap's stderr is a slow terminal or a pipe nobody reads), the channel fills, the
//! reader stops reading, the pipe fills and the step blocks on its next write: however much a
//! step prints, melwrap holds at most a few hundred KiB of it.

use std::io::Read;
use std::sync::mpsc::SyncSender;

use super::sink::Stream;
use super::termfilter::{Mode, TermFilter};

/// Longest line passed on in one piece; a longer line is split, each piece but the last
/// ending in [`SPLIT_MARKER`].
pub const MAX_LINE: usize = 64 * 1024;

/// Appended to a piece of a line that was split because it reached [`MAX_LINE`].
pub const SPLIT_MARKER: &str = " [melwrap: line longer than 64 KiB, continued]";

/// Lines waiting for the runner, across both streams. With [`MAX_LINE`] this bounds what
/// melwrap buffers to about 1 MiB besides the pipes themselves.
pub const CHANNEL_LINES: usize = 16;

/// Bytes read from a pipe at once.
const CHUNK: usize = 16 * 1024;

/// What the reader threads tell the runner.
pub(crate) enum Msg {
    Line(Stream, String),
    /// A reader thread finished.
    Done,
}

/// Splits filtered output into lines without the newline, none longer than [`MAX_LINE`].
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Add `bytes`; call `emit` with each completed line (or piece of an over-long line).
    /// Stops early, returning false, as soon as `emit` returns false.
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(String) -> bool) -> bool {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let window = &bytes[..bytes.len().min(room)];
            if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                self.pending.extend_from_slice(&window[..nl]);
                bytes = &bytes[nl + 1..];
                if !emit(self.take_line()) {
                    return false;
                }
                continue;
            }
            self.pending.extend_from_slice(window);
            bytes = &bytes[window.len()..];
            if self.pending.len() == MAX_LINE {
                // Split at a character boundary: the piece ends before a partial character,
                // which starts the next piece.
                let cut = char_boundary_before(&self.pending, MAX_LINE);
                let rest = self.pending.split_off(cut);
                let mut piece = self.take_line();
                piece.push_str(SPLIT_MARKER);
                self.pending = rest;
                if !emit(piece) {
                    return false;
                }
            }
        }
        true
    }

    /// The last, unterminated line, if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| self.take_line())
    }

    fn take_line(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        line
    }
}

/// The largest index `<= end` that does not fall inside a UTF-8 character of `bytes` (at most
/// three bytes back; invalid input is cut at `end`).
fn char_boundary_before(bytes: &[u8], end: usize) -> usize {
    let mut start = end;
    while start > 0 && end - start < 3 && (0x80..0xc0).contains(&bytes[start - 1]) {
        start -= 1;
    }
    if start == 0 {
        return end;
    }
    let needed = match bytes[start - 1] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return end,
    };
    if end - (start - 1) < needed {
        start - 1
    } else {
        end
    }
}

/// Read `pipe` until it closes: filter, split into lines, send each as [`Msg::Line`], then
/// send [`Msg::Done`]. Blocks (and so stops reading) while the channel is full.
pub(crate) fn spawn_reader(pipe: impl Read + Send + 'static, stream: Stream, tx: SyncSender<Msg>) {
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut buf = vec![0u8; CHUNK];
        let mut filtered = Vec::with_capacity(CHUNK);
        let mut filter = TermFilter::new(Mode::Log);
        let mut lines = LineSplitter::default();
        let mut send = |line: String| tx.send(Msg::Line(stream, line)).is_ok();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            filtered.clear();
            filter.feed(&buf[..n], &mut filtered);
            if !lines.push(&filtered, &mut send) {
                break;
            }
        }
        if let Some(last) = lines.finish() {
            send(last);
        }
        let _ = tx.send(Msg::Done);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut s = LineSplitter::default();
        for chunk in input {
            s.push(chunk, &mut |l| {
                out.push(l);
                true
            });
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn lines_are_split_at_newlines_across_chunks() {
        assert_eq!(split(&[b"a\nb", b"c\n", b"\nd"]), ["a", "bc", "", "d"]);
        assert!(split(&[b""]).is_empty());
    }

    #[test]
    fn a_line_without_newline_is_split_into_bounded_pieces() {
        let flood = vec![b'x'; 3 * MAX_LINE + 10];
        let lines = split(&[&flood]);
        assert_eq!(lines.len(), 4);
        for piece in &lines[..3] {
            assert_eq!(piece.len(), MAX_LINE + SPLIT_MARKER.len());
            assert!(piece.ends_with(SPLIT_MARKER));
        }
        assert_eq!(lines[3], "x".repeat(10));
    }

    #[test]
    fn a_split_never_cuts_a_character() {
        // "é" is two bytes; with one ASCII byte first, a character straddles every boundary.
        let mut text = b"a".to_vec();
        text.extend("é".repeat(MAX_LINE).as_bytes());
        let lines = split(&[&text]);
        assert!(lines.iter().all(|l| !l.contains('\u{fffd}')), "no U+FFFD");
        let joined: String = lines
            .iter()
            .map(|l| l.trim_end_matches(SPLIT_MARKER))
            .collect();
        assert_eq!(joined.as_bytes(), &text[..]);
        for cut in [MAX_LINE, MAX_LINE - 1] {
            let b = char_boundary_before("aé€🎉".repeat(9000).as_bytes(), cut);
            assert!(cut - b <= 3);
        }
    }
}
