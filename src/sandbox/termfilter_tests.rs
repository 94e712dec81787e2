use super::*;

fn log(text: &str) -> String {
    String::from_utf8(TermFilter::clean(Mode::Log, text.as_bytes())).unwrap()
}

fn interactive(text: &str) -> String {
    String::from_utf8(TermFilter::clean(Mode::Interactive, text.as_bytes())).unwrap()
}

/// Feed `text` in pieces of every size from 1 to its length: the result never depends on
/// where the reads split it.
fn same_in_every_split(mode: Mode, text: &[u8]) -> Vec<u8> {
    let whole = TermFilter::clean(mode, text);
    for size in 1..=text.len().max(1) {
        let mut filter = TermFilter::new(mode);
        let mut out = Vec::new();
        for chunk in text.chunks(size) {
            filter.feed(chunk, &mut out);
        }
        assert_eq!(out, whole, "chunks of {size} of {text:?}");
    }
    whole
}

#[test]
fn text_tabs_newlines_and_colours_pass() {
    assert_eq!(log("plain text\twith tab\n"), "plain text\twith tab\n");
    assert_eq!(log("\x1b[31mred\x1b[0m"), "\x1b[31mred\x1b[0m");
    assert_eq!(log("\x1b[1;38;5;208mx\x1b[m"), "\x1b[1;38;5;208mx\x1b[m");
    assert_eq!(log("\x1b[38:2:1:2:3mx"), "\x1b[38:2:1:2:3mx");
    assert_eq!(log("naïve ✓ 日本 🎉"), "naïve ✓ 日本 🎉");
}

#[test]
fn osc_strings_are_dropped_with_either_terminator() {
    // Title (BEL and ST), clipboard write (OSC 52), hyperlink.
    assert_eq!(log("a\x1b]0;pwned title\x07b"), "ab");
    assert_eq!(log("a\x1b]2;title\x1b\\b"), "ab");
    assert_eq!(log("a\x1b]52;c;ZWNobyBoaQ==\x07b"), "ab");
    assert_eq!(log("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\"), "link");
    // An OSC spanning lines swallows them, as the terminal would.
    assert_eq!(log("\x1b]0;one\ntwo\x07after\n"), "after\n");
    // CAN aborts it.
    assert_eq!(log("\x1b]0;x\x18ok"), "ok");
}

#[test]
fn dcs_apc_pm_sos_strings_are_dropped() {
    assert_eq!(log("a\x1bP$q\"p\x1b\\b"), "ab");
    assert_eq!(log("a\x1b_apc payload\x1b\\b"), "ab");
    assert_eq!(log("a\x1b^pm\x1b\\b"), "ab");
    assert_eq!(log("a\x1bXsos\x1b\\b"), "ab");
    // ESC + something other than `\` ends the string and starts a new sequence.
    assert_eq!(log("\x1bPdcs\x1b[31mred"), "\x1b[31mred");
}

#[test]
fn cursor_erase_screen_and_mode_sequences_are_dropped() {
    for seq in [
        "\x1b[2J",
        "\x1b[H",
        "\x1b[10;20H",
        "\x1b[3A",
        "\x1b[K",
        "\x1b[2K",
        "\x1b[1P",
        "\x1b[?1049h",
        "\x1b[?25l",
        "\x1b[?2004h",
        "\x1b[?1000h",
        "\x1b[6n",
        "\x1b[c",
        "\x1b[>c",
        "\x1b[21t",
        "\x1b[8;100;100t",
        "\x1b[0 q",
        "\x1b[!p",
        "\x1b[?31m",
        "\x1b[>4;2m",
        "\x1b[1 m",
    ] {
        assert_eq!(log(&format!("a{seq}b")), "ab", "{seq:?}");
    }
}

#[test]
fn other_escapes_and_c0_controls_are_dropped() {
    for seq in [
        "\x1b(0", "\x1b)B", "\x1b#8", "\x1b%G", "\x1b=", "\x1b>", "\x1b7", "\x1b8", "\x1bc",
        "\x1bD", "\x1bM", "\x1bZ", "\r", "\x08", "\x07", "\x00", "\x0e", "\x0f", "\x7f", "\x0b",
        "\x0c",
    ] {
        assert_eq!(log(&format!("a{seq}b")), "ab", "{seq:?}");
    }
    // A lone ESC takes the next byte as its final byte, as a terminal does.
    assert_eq!(log("a\x1bbc"), "ac");
    // "FAILED" cannot be overwritten with "ok".
    assert_eq!(log("FAILED\rok    "), "FAILEDok    ");
}

#[test]
fn c1_controls_are_dropped_in_both_encodings() {
    // As UTF-8 characters: CSI, OSC, DCS and the rest.
    assert_eq!(log("a\u{9b}2Jb"), "ab");
    assert_eq!(log("a\u{9d}0;title\u{7}b"), "ab");
    assert_eq!(log("a\u{90}q\u{1b}\\b"), "ab");
    assert_eq!(log("a\u{85}\u{8d}b"), "ab");
    // As raw 8-bit bytes they are not UTF-8: each becomes U+FFFD.
    let out = TermFilter::clean(Mode::Log, b"a\x9b2Jb\x9d");
    assert_eq!(String::from_utf8(out).unwrap(), "a\u{fffd}2Jb\u{fffd}");
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let out = TermFilter::clean(Mode::Log, b"a\xffb\xc3(c\xe2\x82d\xc0\xafe");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a\u{fffd}b\u{fffd}(c\u{fffd}d\u{fffd}\u{fffd}e"
    );
    // A truncated character followed by ESC still starts the escape.
    let out = TermFilter::clean(Mode::Log, b"\xe2\x82\x1b[2Jx");
    assert_eq!(String::from_utf8(out).unwrap(), "\u{fffd}x");
}

#[test]
fn sequences_split_across_reads_are_recognised() {
    let text = "x\x1b]52;c;aGk=\x1b\\y\x1b[31mé\x1b[?1049h✓\x1b[0m\x1bP+q\x07z\u{9b}1Aw\n";
    let out = same_in_every_split(Mode::Log, text.as_bytes());
    assert_eq!(String::from_utf8(out).unwrap(), "xy\x1b[31mé✓\x1b[0mzw\n");
    let out = same_in_every_split(Mode::Log, b"\xf0\x9f\x8e\x89\xe2\x82\x1b[Kok");
    assert_eq!(String::from_utf8(out).unwrap(), "🎉\u{fffd}ok");
}

#[test]
fn state_is_bounded_however_long_the_sequence() {
    let mut filter = TermFilter::new(Mode::Log);
    let mut out = Vec::new();
    filter.feed(b"\x1b[", &mut out);
    for _ in 0..10_000 {
        filter.feed(&[b'1'; 1000], &mut out);
    }
    filter.feed(b"mafter", &mut out);
    assert_eq!(out, b"after", "an over-long SGR is dropped whole");
    assert!(filter.params.capacity() <= 2 * MAX_PARAMS);

    let mut out = Vec::new();
    filter.feed(b"\x1b]0;", &mut out);
    for _ in 0..10_000 {
        filter.feed(&[b'x'; 1000], &mut out);
    }
    filter.feed(b"\x07end", &mut out);
    assert_eq!(out, b"end");
}

#[test]
fn interactive_mode_keeps_line_editing_only() {
    assert_eq!(interactive("abc\x08\x1b[K\r\n"), "abc\x08\x1b[K\r\n");
    assert_eq!(
        interactive("\x07\x1b[3D\x1b[2C\x1b[P\x1b[4@\x1b[X"),
        "\x07\x1b[3D\x1b[2C\x1b[P\x1b[4@\x1b[X"
    );
    assert_eq!(interactive("\x1b[31mred\x1b[m"), "\x1b[31mred\x1b[m");
    for seq in [
        "\x1b]0;title\x07",
        "\x1b]52;c;aGk=\x07",
        "\x1bP$q\"p\x1b\\",
        "\x1b[2J",
        "\x1b[H",
        "\x1b[1A",
        "\x1b[?2004h",
        "\x1b[?1049h",
        "\x1b[6n",
        "\x1b[1;2C",
        "\x1b[?1K",
        "\x1b=",
        "\x1b(0",
        "\x0e",
    ] {
        assert_eq!(interactive(&format!("a{seq}b")), "ab", "{seq:?}");
    }
    assert_eq!(log("abc\x08\x1b[K\r\n"), "abc\n");
}
