//! `Picture`: an RGBA8 raster, and its PNG decoding and encoding.
//!
//! The one way in is `Picture::new` (or `decode_png`), which checks that the pixel buffer
//! holds exactly `width × height` RGBA pixels, so every other function here can index it
//! without checks that could fail.

use std::io::Cursor;

/// An RGBA8 raster, row-major from the top-left corner, 4 bytes per pixel, straight
/// (not premultiplied) alpha — what a PNG screenshot decodes to.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// Why bytes or a buffer are not a picture.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("a {width}×{height} picture needs {expected} bytes of RGBA pixels, got {actual}")]
    WrongLength {
        width: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
    #[error("not a readable PNG: {0}")]
    Png(#[from] png::DecodingError),
    #[error("the PNG's colour type {0} did not expand to RGBA")]
    UnexpandedColour(String),
    #[error("the PNG could not be written: {0}")]
    Encode(#[from] png::EncodingError),
}

impl std::fmt::Debug for Picture {
    // Millions of pixel bytes help nobody reading a failed assertion.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}×{})", self.width, self.height)
    }
}

impl Picture {
    /// A picture from RGBA8 pixels; refused unless `pixels.len() == width × height × 4`.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Picture, PictureError> {
        let expected = u64::from(width) * u64::from(height) * 4;
        if pixels.len() as u64 != expected {
            return Err(PictureError::WrongLength {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Picture {
            width,
            height,
            pixels,
        })
    }

    /// A picture of one colour.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Picture {
        let count = width as usize * height as usize;
        Picture {
            width,
            height,
            pixels: rgba.repeat(count),
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RGBA8 bytes, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// The pixel at (x, y); `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y as usize * self.width as usize + x as usize) * 4;
        let mut rgba = [0; 4];
        rgba.copy_from_slice(&self.pixels[at..at + 4]);
        Some(rgba)
    }

    /// Sets the pixel at (x, y); outside the picture nothing happens.
    pub fn set_pixel(&mut self, x: u32, y: u32, rgba: [u8; 4]) {
        if x < self.width && y < self.height {
            let at = (y as usize * self.width as usize + x as usize) * 4;
            self.pixels[at..at + 4].copy_from_slice(&rgba);
        }
    }

    /// Paints the rectangle from (x, y), `width × height`, clipped to the picture.
    pub fn fill_rect(&mut self, x: u32, y: u32, width: u32, height: u32, rgba: [u8; 4]) {
        for row in y..y.saturating_add(height).min(self.height) {
            for column in x..x.saturating_add(width).min(self.width) {
                self.set_pixel(column, row, rgba);
            }
        }
    }

    /// Decodes a PNG of any colour type and bit depth into RGBA8 (16-bit samples are cut to
    /// their high byte, palettes and grey expanded, missing alpha made opaque; an animated
    /// PNG gives its first frame). The png crate's default limit applies: a picture that
    /// would take more than 64 MiB decoded is refused.
    pub fn decode_png(bytes: &[u8]) -> Result<Picture, PictureError> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(
            png::Transformations::EXPAND
                | png::Transformations::STRIP_16
                | png::Transformations::ALPHA,
        );
        let mut reader = decoder.read_info()?;
        let size = reader
            .output_buffer_size()
            .ok_or(png::DecodingError::LimitsExceeded)?;
        let mut buffer = vec![0; size];
        let frame = reader.next_frame(&mut buffer)?;
        buffer.truncate(frame.buffer_size());
        let (width, height) = (frame.width, frame.height);
        let pixels = match frame.color_type {
            png::ColorType::Rgba => buffer,
            png::ColorType::GrayscaleAlpha => buffer
                .chunks_exact(2)
                .flat_map(|grey_alpha| {
                    let (grey, alpha) = (grey_alpha[0], grey_alpha[1]);
                    [grey, grey, grey, alpha]
                })
                .collect(),
            // With EXPAND | ALPHA the decoder only hands out the two above; these are here
            // so a change in the png crate cannot turn into a wrong picture.
            png::ColorType::Rgb => buffer
                .chunks_exact(3)
                .flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255])
                .collect(),
            png::ColorType::Grayscale => buffer.iter().flat_map(|&g| [g, g, g, 255]).collect(),
            png::ColorType::Indexed => {
                return Err(PictureError::UnexpandedColour(format!(
                    "{:?}",
                    frame.color_type
                )))
            }
        };
        Picture::new(width, height, pixels)
    }

    /// Encodes the picture as an 8-bit RGBA PNG (fast compression: these are diff images
    /// and screenshots made per command, not assets).
    pub fn encode_png(&self) -> Result<Vec<u8>, PictureError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(bytes)
    }

    /// The pixel's colour over white, as sRGB 0–255 floats: a transparent area looks the
    /// way a page's white canvas shows it, so alpha never needs a rule of its own.
    pub(crate) fn opaque_rgb(&self, index: usize) -> [f64; 3] {
        let p = &self.pixels[index * 4..index * 4 + 4];
        let alpha = f64::from(p[3]) / 255.0;
        let over_white = |c: u8| f64::from(c) * alpha + 255.0 * (1.0 - alpha);
        [over_white(p[0]), over_white(p[1]), over_white(p[2])]
    }

    pub(crate) fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_buffer_of_the_wrong_length() {
        let error = Picture::new(2, 2, vec![0; 15]).unwrap_err();
        assert!(error.to_string().contains("needs 16 bytes"), "{error}");
    }

    #[test]
    fn png_round_trip_keeps_every_pixel() {
        let mut picture = Picture::filled(7, 5, [10, 20, 30, 255]);
        picture.fill_rect(2, 1, 3, 3, [200, 0, 90, 128]);
        let decoded = Picture::decode_png(&picture.encode_png().unwrap()).unwrap();
        assert_eq!(decoded, picture);
    }

    #[test]
    fn decodes_rgb_and_grey_pngs_to_opaque_rgba() {
        let mut rgb = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut rgb, 2, 1);
            encoder.set_color(png::ColorType::Rgb);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[1, 2, 3, 4, 5, 6]).unwrap();
        }
        let picture = Picture::decode_png(&rgb).unwrap();
        assert_eq!(picture.pixels(), &[1, 2, 3, 255, 4, 5, 6, 255]);

        let mut grey = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut grey, 1, 2);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Sixteen);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[0x80, 0x01, 0xff, 0xff]).unwrap();
        }
        let picture = Picture::decode_png(&grey).unwrap();
        assert_eq!(
            picture.pixels(),
            &[0x80, 0x80, 0x80, 255, 255, 255, 255, 255]
        );
    }

    #[test]
    fn refuses_bytes_that_are_not_a_png() {
        assert!(matches!(
            Picture::decode_png(b"GIF89a not a png"),
            Err(PictureError::Png(_))
        ));
    }

    #[test]
    fn transparent_pixels_read_as_white() {
        let picture = Picture::filled(1, 1, [0, 0, 0, 0]);
        assert_eq!(picture.opaque_rgb(0), [255.0, 255.0, 255.0]);
    }
}
