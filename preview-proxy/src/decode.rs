//! Streaming decoders for HTML that an upstream compressed although it was asked for
//! `identity` (some servers always gzip). Each compressed chunk goes in, whatever it decodes
//! to comes straight out: nothing is held beyond the codec's own window. The proxy then
//! sends the page uncompressed (it is on loopback), so there is nothing to re-encode.

use std::io::Write;

use bytes::Bytes;

/// A content coding the proxy can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
    Zstd,
}

impl Coding {
    /// The coding of a `Content-Encoding` value; `Ok(None)` = identity, `Err` = one the
    /// proxy cannot decode (the response then passes through untouched).
    pub fn parse(value: &str) -> Result<Option<Coding>, Unsupported> {
        let codings: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
            .collect();
        match codings.as_slice() {
            [] => Ok(None),
            [one] if one.eq_ignore_ascii_case("gzip") || one.eq_ignore_ascii_case("x-gzip") => {
                Ok(Some(Coding::Gzip))
            }
            [one] if one.eq_ignore_ascii_case("br") => Ok(Some(Coding::Brotli)),
            [one] if one.eq_ignore_ascii_case("zstd") => Ok(Some(Coding::Zstd)),
            _ => Err(Unsupported),
        }
    }
}

/// A `Content-Encoding` the proxy does not decode (deflate, compress, stacked codings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// One response body's decoder.
pub enum Decoder {
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoder::Gzip(_) => "Decoder::Gzip",
            Decoder::Brotli(_) => "Decoder::Brotli",
            Decoder::Zstd(_) => "Decoder::Zstd",
        })
    }
}

impl Decoder {
    pub fn new(coding: Coding) -> std::io::Result<Self> {
        Ok(match coding {
            Coding::Gzip => Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new()))),
            Coding::Brotli => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 8192)))
            }
            Coding::Zstd => Decoder::Zstd(Box::new(zstd::stream::write::Decoder::new(Vec::new())?)),
        })
    }

    /// Decodes one chunk; returns what it decoded to so far (may be empty).
    pub fn push(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Decoder::Gzip(d) => {
                d.write_all(chunk)?;
                d.flush()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Brotli(d) => {
                d.write_all(chunk)?;
                d.flush()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Zstd(d) => {
                d.write_all(chunk)?;
                d.flush()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
        }
    }

    /// The end of the body: the rest of the output; an error when the stream was cut short.
    pub fn finish(&mut self) -> std::io::Result<Bytes> {
        match self {
            Decoder::Gzip(d) => {
                d.try_finish()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Brotli(d) => {
                d.close()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Zstd(d) => {
                d.flush()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &[u8] =
        "<!doctype html><head><title>見出し</title></head><body>x</body>".as_bytes();

    fn decode_in_pieces(coding: Coding, encoded: &[u8]) -> Vec<u8> {
        let mut decoder = Decoder::new(coding).unwrap();
        let mut out = Vec::new();
        for piece in encoded.chunks(7) {
            out.extend_from_slice(&decoder.push(piece).unwrap());
        }
        out.extend_from_slice(&decoder.finish().unwrap());
        out
    }

    #[test]
    fn decodes_gzip_brotli_and_zstd_fed_in_small_pieces() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PAGE).unwrap();
        assert_eq!(decode_in_pieces(Coding::Gzip, &gz.finish().unwrap()), PAGE);

        let mut br = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            writer.write_all(PAGE).unwrap();
        }
        assert_eq!(decode_in_pieces(Coding::Brotli, &br), PAGE);

        let zst = zstd::encode_all(PAGE, 3).unwrap();
        assert_eq!(decode_in_pieces(Coding::Zstd, &zst), PAGE);
    }

    #[test]
    fn a_truncated_gzip_body_is_an_error_not_a_silent_cut() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PAGE).unwrap();
        let encoded = gz.finish().unwrap();
        let mut decoder = Decoder::new(Coding::Gzip).unwrap();
        let _ = decoder.push(&encoded[..encoded.len() / 2]);
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn parses_content_encoding_values() {
        assert_eq!(Coding::parse("gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse("X-Gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse("br"), Ok(Some(Coding::Brotli)));
        assert_eq!(Coding::parse("zstd"), Ok(Some(Coding::Zstd)));
        assert_eq!(Coding::parse("identity"), Ok(None));
        assert_eq!(Coding::parse(""), Ok(None));
        assert_eq!(Coding::parse("deflate"), Err(Unsupported));
        assert_eq!(Coding::parse("gzip, br"), Err(Unsupported));
    }
}
