//! A text file as lines that remember their own line ending, so that a patch changes only
//! the lines it means to: LF/CRLF per line, the final newline (or its absence) and a UTF-8
//! byte-order mark survive a decode → edit → encode round trip byte for byte.

/// A line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eol {
    Lf,
    CrLf,
}

impl Eol {
    fn as_str(self) -> &'static str {
        match self {
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
        }
    }
}

/// One line without its ending; `eol` is `None` only for a last line without a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub text: String,
    pub eol: Option<Eol>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextFile {
    pub bom: bool,
    pub lines: Vec<Line>,
}

const BOM: &str = "\u{feff}";

impl TextFile {
    /// Decodes a file's bytes; `Err` says why it is not text we can patch.
    pub fn decode(bytes: &[u8]) -> Result<TextFile, &'static str> {
        if bytes.contains(&0) {
            return Err("it contains a NUL byte");
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not valid UTF-8")?;
        let (bom, text) = match text.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        // A file holding only a byte-order mark is one empty line without a newline, as git
        // (which keeps the mark in line 1) sees it; diffs of it then line up.
        if bom && text.is_empty() {
            return Ok(TextFile {
                bom,
                lines: vec![Line {
                    text: String::new(),
                    eol: None,
                }],
            });
        }
        let mut lines = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (line, eol, next) = match rest.find('\n') {
                Some(i) => match rest[..i].strip_suffix('\r') {
                    Some(line) => (line, Some(Eol::CrLf), &rest[i + 1..]),
                    None => (&rest[..i], Some(Eol::Lf), &rest[i + 1..]),
                },
                None => (rest, None, ""),
            };
            lines.push(Line {
                text: line.to_string(),
                eol,
            });
            rest = next;
        }
        Ok(TextFile { bom, lines })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            String::with_capacity(self.lines.iter().map(|l| l.text.len() + 2).sum::<usize>() + 3);
        if self.bom {
            out.push_str(BOM);
        }
        for line in &self.lines {
            out.push_str(&line.text);
            if let Some(eol) = line.eol {
                out.push_str(eol.as_str());
            }
        }
        out.into_bytes()
    }

    /// The ending new lines get: the one most lines use (LF on a tie); `None` when no line
    /// has an ending to follow.
    pub fn dominant_eol(&self) -> Option<Eol> {
        let crlf = self
            .lines
            .iter()
            .filter(|l| l.eol == Some(Eol::CrLf))
            .count();
        let lf = self.lines.iter().filter(|l| l.eol == Some(Eol::Lf)).count();
        match (crlf, lf) {
            (0, 0) => None,
            _ if crlf > lf => Some(Eol::CrLf),
            _ => Some(Eol::Lf),
        }
    }

    /// True for an empty file too: lines added to it end with a newline.
    pub fn ends_with_newline(&self) -> bool {
        self.lines.last().is_none_or(|l| l.eol.is_some())
    }

    pub fn texts(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.text.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mixed_endings_bom_and_missing_final_newline() {
        for bytes in [
            &b""[..],
            b"a",
            b"a\n",
            b"a\r\nb\nc",
            b"\xef\xbb\xbfa\r\nb\r\n",
            b"\n\n\r\n",
            b"lone\rcr\n",
            b"\xef\xbb\xbf",
        ] {
            let file = TextFile::decode(bytes).expect("text");
            assert_eq!(file.encode(), bytes, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn rejects_nul_bytes_and_invalid_utf8_as_binary() {
        assert_eq!(TextFile::decode(b"a\0b"), Err("it contains a NUL byte"));
        assert_eq!(TextFile::decode(b"\xff\xfe"), Err("it is not valid UTF-8"));
    }

    #[test]
    fn picks_the_line_ending_most_lines_use() {
        assert_eq!(
            TextFile::decode(b"a\r\nb\r\nc\n").map(|f| f.dominant_eol()),
            Ok(Some(Eol::CrLf))
        );
        assert_eq!(
            TextFile::decode(b"a\r\nb\n").map(|f| f.dominant_eol()),
            Ok(Some(Eol::Lf))
        );
        assert_eq!(
            TextFile::decode(b"one line").map(|f| f.dominant_eol()),
            Ok(None)
        );
    }
}
