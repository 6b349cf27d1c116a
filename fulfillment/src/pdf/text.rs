//! Text for the builtin Helvetica fonts: encoding to WinAnsi (the one
//! encoding every PDF reader has for them, so no font file is embedded),
//! glyph widths, and cutting or wrapping a line to the space it has.
//!
//! WinAnsi covers Western European letters; anything else is spelt in ASCII
//! (`Łódź` → `Lodz`, `Пётр` → `Piotr`) rather than dropped, so a name stays
//! readable and rendering never fails on it.

/// The two builtin fonts a ticket uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    Regular,
    Bold,
}

impl Font {
    /// The font's name in a page's resources.
    pub(super) fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }

    pub(super) fn base_font(self) -> &'static str {
        match self {
            Font::Regular => "Helvetica",
            Font::Bold => "Helvetica-Bold",
        }
    }

    /// Width in points of WinAnsi `text` set at `size` points.
    pub(super) fn width(self, text: &[u8], size: f32) -> f32 {
        let table = match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        };
        let units: u32 = text
            .iter()
            .map(|&b| u32::from(table[usize::from(b.max(b' ') - b' ')]))
            .sum();
        units as f32 * size / 1000.0
    }
}

/// WinAnsi's horizontal ellipsis.
const ELLIPSIS: u8 = 0x85;

/// `text` in WinAnsiEncoding; characters outside it are transliterated to
/// ASCII, line breaks and tabs become spaces, runs of spaces collapse.
pub(super) fn win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match win_ansi_byte(c) {
            Some(byte) => out.push(byte),
            None if c.is_whitespace() => out.push(b' '),
            None => match deunicode::deunicode_char(c) {
                Some(ascii) => out.extend(ascii.bytes().filter(|b| (b' '..=b'~').contains(b))),
                None => out.push(b'?'),
            },
        }
        // Transliterations end in a space ("Bei "); keep one between words.
        if out.ends_with(b"  ") {
            out.pop();
        }
    }
    while out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

fn win_ansi_byte(c: char) -> Option<u8> {
    match u32::from(c) {
        code @ (0x20..=0x7E | 0xA0..=0xFF) => u8::try_from(code).ok(),
        _ => WIN_ANSI_HIGH
            .iter()
            .find(|(unicode, _)| *unicode == c)
            .map(|&(_, byte)| byte),
    }
}

/// WinAnsi codes 0x80–0x9F, where it differs from Latin-1.
const WIN_ANSI_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// `text` if it fits `max_width`, else cut short with an ellipsis.
pub(super) fn fit(mut text: Vec<u8>, font: Font, size: f32, max_width: f32) -> Vec<u8> {
    if font.width(&text, size) <= max_width {
        return text;
    }
    let budget = max_width - font.width(&[ELLIPSIS], size);
    let mut used = 0.0;
    let mut keep = 0;
    for &byte in &text {
        used += font.width(&[byte], size);
        if used > budget {
            break;
        }
        keep += 1;
    }
    text.truncate(keep);
    while text.last() == Some(&b' ') {
        text.pop();
    }
    text.push(ELLIPSIS);
    text
}

/// `text` broken at spaces into at most `max_lines` lines of `max_width`;
/// the last line takes what is left, cut short if it must be.
pub(super) fn wrap(
    text: &[u8],
    font: Font,
    size: f32,
    max_width: f32,
    max_lines: usize,
) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut words = text.split(|&b| b == b' ').filter(|word| !word.is_empty());
    while let Some(word) = words.next() {
        if lines.len() + 1 >= max_lines {
            append_word(&mut line, word);
            words.by_ref().for_each(|word| append_word(&mut line, word));
            break;
        }
        let mut longer = line.clone();
        append_word(&mut longer, word);
        if line.is_empty() || font.width(&longer, size) <= max_width {
            line = longer;
        } else {
            lines.push(fit(std::mem::take(&mut line), font, size, max_width));
            line = word.to_vec();
        }
    }
    if !line.is_empty() {
        lines.push(fit(line, font, size, max_width));
    }
    lines
}

fn append_word(line: &mut Vec<u8>, word: &[u8]) {
    if !line.is_empty() {
        line.push(b' ');
    }
    line.extend_from_slice(word);
}

/// Advance widths (1/1000 em) of WinAnsi codes 0x20–0xFF, from Adobe's
/// Helvetica AFM; 0 for the five codes WinAnsi leaves undefined.
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 578, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// As [`HELVETICA`], from the Helvetica-Bold AFM.
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0,
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn western_letters_stay_and_others_are_spelt_in_ascii() {
        assert_eq!(win_ansi("Zoë Müller"), b"Zo\xEB M\xFCller");
        assert_eq!(win_ansi("Œuvre – 5 €"), b"\x8Cuvre \x96 5 \x80");
        assert_eq!(win_ansi("Łódź"), b"L\xF3dz");
        assert_eq!(win_ansi("Пётр"), b"Piotr");
        assert_eq!(win_ansi("東京 Arena"), b"Dong Jing Arena");
        assert_eq!(win_ansi("a\tb\nc\u{0}"), b"a b c");
    }

    #[test]
    fn widths_follow_the_font_metrics() {
        assert_eq!(Font::Regular.width(b"Hi", 10.0), (722.0 + 222.0) / 100.0);
        assert!(Font::Bold.width(b"Hi", 10.0) > Font::Regular.width(b"Hi", 10.0));
    }

    #[test]
    fn long_text_is_cut_or_wrapped_to_its_width() {
        let long = win_ansi(&"Spectacular ".repeat(20));
        let cut = fit(long.clone(), Font::Bold, 20.0, 300.0);
        assert_eq!(cut.last(), Some(&ELLIPSIS));
        assert!(Font::Bold.width(&cut, 20.0) <= 300.0);

        let lines = wrap(&long, Font::Bold, 20.0, 300.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(b"Spectacular Spectacular"));
        assert_ne!(lines[0].last(), Some(&ELLIPSIS));
        assert_eq!(lines[1].last(), Some(&ELLIPSIS));
        assert!(lines.iter().all(|l| Font::Bold.width(l, 20.0) <= 300.0));

        assert_eq!(
            wrap(b"Short title", Font::Bold, 20.0, 300.0, 2),
            [b"Short title"]
        );
    }
}
