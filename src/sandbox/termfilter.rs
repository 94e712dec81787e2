//! A streaming filter for a step's output on its way to the user's terminal (or log).
//!
//! A step is untrusted code, and its output ends up on the user's terminal. Terminals act on
//! control sequences: OSC 52 writes the clipboard, OSC 0/2 set the title, some sequences make
//! the terminal *answer* (type into its own input), DCS strings program it, cursor movement
//! and erase sequences rewrite what melwrap printed ("ok" over "FAILED"), mode changes leave
//! it in the alternate screen or with mouse reporting on. [`TermFilter`] drops all of that and
//! keeps text, `\t`, `\n` and colours (SGR, `ESC [ … m` with numeric parameters).
//!
//! It is a byte-level state machine (after the VT500 parser that terminals implement), fed
//! chunk by chunk: a sequence split across reads (or lines) is recognised as a whole. Its
//! output is always valid UTF-8 (invalid bytes become U+FFFD), and it holds at most a few
//! dozen bytes of state, however long a sequence the step sends.
//!
//! [`Mode::Interactive`] (the debug shell's pseudo-terminal) also keeps what line editing
//! needs: carriage return, backspace, BEL, and the in-line cursor and erase sequences
//! (`CSI n C`, `D`, `K`, `P`, `@`, `X`), which cannot leave the current line.

/// What the filter lets through besides text, `\t`, `\n` and SGR colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build output: nothing else.
    Log,
    /// An interactive shell: also `\r`, backspace, BEL and in-line cursor and erase sequences.
    Interactive,
}

/// Longest CSI parameter string kept; longer sequences are dropped whole.
const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// Inside a multi-byte UTF-8 character.
    Utf8,
    /// After ESC.
    Escape,
    /// ESC followed by intermediate bytes (charset designation and the like), up to the final.
    EscapeIntermediate,
    /// A control sequence (CSI): parameters and intermediates up to the final byte.
    Csi,
    /// An OSC, DCS, SOS, PM or APC string, up to its terminator.
    Str,
    /// ESC inside a string: `\` ends it (ST), anything else ends it and starts a new escape.
    StrEscape,
}

/// A streaming filter; one per output stream. See the module doc.
#[derive(Debug, Clone)]
pub struct TermFilter {
    mode: Mode,
    state: State,
    /// The UTF-8 character being collected (Utf8 state).
    utf8: [u8; 4],
    utf8_len: usize,
    utf8_need: usize,
    /// CSI parameter and intermediate bytes (Csi state), up to [`MAX_PARAMS`].
    params: Vec<u8>,
    /// The CSI has a private marker (`?`, `<`, `=`, `>`), an intermediate byte, or too many
    /// parameters: it is dropped whatever its final byte.
    csi_rejected: bool,
}

impl TermFilter {
    pub fn new(mode: Mode) -> TermFilter {
        TermFilter {
            mode,
            state: State::Ground,
            utf8: [0; 4],
            utf8_len: 0,
            utf8_need: 0,
            params: Vec::with_capacity(MAX_PARAMS),
            csi_rejected: false,
        }
    }

    /// Filter `input`, appending what may reach the terminal to `out`. State carries over to
    /// the next call.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while let Some((&b, rest)) = input.split_first() {
            if self.state == State::Ground {
                // Fast path: a run of printable ASCII, tabs and newlines is copied as is.
                let run = input
                    .iter()
                    .position(|&c| !matches!(c, 0x20..=0x7e | b'\t' | b'\n'))
                    .unwrap_or(input.len());
                if run > 0 {
                    out.extend_from_slice(&input[..run]);
                    input = &input[run..];
                    continue;
                }
            }
            self.byte(b, out);
            input = rest;
        }
    }

    /// Filter a whole string at once (a fresh filter each time): for tests and one-off text.
    pub fn clean(mode: Mode, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        TermFilter::new(mode).feed(text, &mut out);
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Utf8 => return self.utf8_byte(b, out),
            State::Str => {
                match b {
                    0x1b => self.state = State::StrEscape,
                    // BEL ends an OSC (xterm accepts it for the other strings too); CAN and
                    // SUB abort.
                    0x07 | 0x18 | 0x1a => self.state = State::Ground,
                    _ => {}
                }
                return;
            }
            State::StrEscape => {
                if b == b'\\' {
                    self.state = State::Ground;
                    return;
                }
                // ESC + anything else: the string ended and an escape sequence begins.
                self.state = State::Escape;
            }
            _ => {}
        }
        match b {
            // CAN and SUB abort a sequence; ESC starts a new one, whatever came before.
            0x18 | 0x1a => self.state = State::Ground,
            0x1b => self.state = State::Escape,
            _ => match self.state {
                State::Ground => self.ground_byte(b, out),
                State::Escape => self.escape_byte(b),
                State::EscapeIntermediate => {
                    // 0x20..=0x2f continue; a final byte ends it; C0 is ignored.
                    if (0x30..=0x7e).contains(&b) {
                        self.state = State::Ground;
                    }
                }
                State::Csi => self.csi_byte(b, out),
                State::Utf8 | State::Str | State::StrEscape => unreachable!("handled above"),
            },
        }
    }

    fn ground_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\t' | b'\n' => out.push(b),
            b'\r' | 0x08 | 0x07 if self.mode == Mode::Interactive => out.push(b),
            0x00..=0x1f | 0x7f => {}
            0x20..=0x7e => out.push(b),
            0xc2..=0xdf => self.start_utf8(b, 1),
            0xe0..=0xef => self.start_utf8(b, 2),
            0xf0..=0xf4 => self.start_utf8(b, 3),
            // A continuation byte without a lead, or a byte never valid in UTF-8.
            _ => out.extend_from_slice(REPLACEMENT),
        }
    }

    fn start_utf8(&mut self, lead: u8, need: usize) {
        self.utf8[0] = lead;
        self.utf8_len = 1;
        self.utf8_need = need;
        self.state = State::Utf8;
    }

    fn utf8_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if !(0x80..=0xbf).contains(&b) {
            // Truncated character: replace it, then read `b` afresh.
            out.extend_from_slice(REPLACEMENT);
            self.state = State::Ground;
            return self.byte(b, out);
        }
        self.utf8[self.utf8_len] = b;
        self.utf8_len += 1;
        if self.utf8_len <= self.utf8_need {
            return;
        }
        self.state = State::Ground;
        let bytes = &self.utf8[..self.utf8_len];
        match std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
        {
            // C1 controls encoded as characters: some terminals act on them like ESC forms.
            Some('\u{9b}') => self.start_csi(),
            Some('\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}') => self.state = State::Str,
            Some('\u{80}'..='\u{9f}') => {}
            Some(_) => out.extend_from_slice(bytes),
            // Overlong forms, surrogates, beyond U+10FFFF.
            None => out.extend_from_slice(REPLACEMENT),
        }
    }

    fn escape_byte(&mut self, b: u8) {
        self.state = match b {
            b'[' => {
                self.start_csi();
                return;
            }
            // OSC, DCS, SOS, PM, APC: strings up to ST (or BEL).
            b']' | b'P' | b'X' | b'^' | b'_' => State::Str,
            0x20..=0x2f => State::EscapeIntermediate,
            // Any other final byte (keypad modes, save/restore cursor, reset, index, ...)
            // is a complete escape sequence: dropped.
            0x30..=0x7e => State::Ground,
            // C0 inside an escape is executed by terminals; here it is dropped, and the
            // escape continues.
            0x00..=0x1f => State::Escape,
            _ => State::Ground,
        };
    }

    fn start_csi(&mut self) {
        self.state = State::Csi;
        self.params.clear();
        self.csi_rejected = false;
    }

    fn csi_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            // Parameter bytes: digits and separators are ordinary; `<=>?` mark private
            // sequences (mode changes and the like).
            b'0'..=b'9' | b';' | b':' => self.push_param(b),
            b'<'..=b'?' => self.csi_rejected = true,
            // Intermediate bytes.
            0x20..=0x2f => self.csi_rejected = true,
            0x40..=0x7e => {
                self.state = State::Ground;
                if !self.csi_rejected && self.allowed_final(b) {
                    out.extend_from_slice(b"\x1b[");
                    out.extend_from_slice(&self.params);
                    out.push(b);
                }
            }
            // C0 inside a CSI is executed by terminals; dropped here.
            0x00..=0x1f => {}
            _ => {
                self.state = State::Ground;
            }
        }
    }

    fn push_param(&mut self, b: u8) {
        if self.params.len() < MAX_PARAMS {
            self.params.push(b);
        } else {
            self.csi_rejected = true;
        }
    }

    fn allowed_final(&self, b: u8) -> bool {
        match b {
            b'm' => true,
            b'C' | b'D' | b'K' | b'P' | b'@' | b'X' => {
                self.mode == Mode::Interactive && !self.params.contains(&b';')
            }
            _ => false,
        }
    }
}

const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

#[cfg(test)]
#[path = "termfilter_tests.rs"]
mod tests;
