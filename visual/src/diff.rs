//! Pixel differences between two screenshots: how much of the page changed, and a picture
//! that shows where (the after picture greyed and dimmed, changed pixels in solid magenta,
//! as pixelmatch draws them).
//!
//! Pure and deterministic. Pictures of different sizes are compared on the union canvas
//! (the larger width × the larger height, both anchored at the top-left corner); a pixel
//! that is not inside both pictures counts as changed.

use crate::picture::Picture;

/// The default per-channel tolerance for [`diff`]: 8 of 255 (about 3 %). Differences up to
/// it — gradient dithering, colour-management rounding, the odd antialiased edge pixel that
/// lands one step lighter — are below what a person sees; a real change of colour (`#333` →
/// `#444` is 17 per channel) is above it.
pub const DEFAULT_THRESHOLD: u8 = 8;

/// The colour changed pixels are drawn in.
pub const CHANGED_COLOUR: [u8; 4] = [255, 0, 255, 255];

/// How much and where `after` differs from `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelDiff {
    /// Pixels on the union canvas that changed (or are inside only one picture).
    pub changed_pixels: u64,
    /// Pixels on the union canvas.
    pub total_pixels: u64,
    /// `changed_pixels / total_pixels`, in [0, 1]; exactly 0.0 when nothing changed (and for
    /// two empty pictures).
    pub changed_share: f64,
    /// The union canvas: `after` greyed and dimmed, changed pixels magenta.
    pub image: Picture,
}

/// Compares `before` and `after` pixel by pixel. A pixel is unchanged when each of its R, G,
/// B channels, both taken over white by their alpha, differs by at most `threshold` (0–255);
/// see [`DEFAULT_THRESHOLD`].
pub fn diff(before: &Picture, after: &Picture, threshold: u8) -> PixelDiff {
    let width = before.width().max(after.width());
    let height = before.height().max(after.height());
    let mut image = Picture::filled(width, height, CHANGED_COLOUR);
    let mut changed_pixels = 0u64;
    let tolerance = f64::from(threshold);
    for y in 0..height {
        for x in 0..width {
            let inside_both =
                x < before.width().min(after.width()) && y < before.height().min(after.height());
            if !inside_both {
                changed_pixels += 1;
                continue;
            }
            let old = before.opaque_rgb(y as usize * before.width() as usize + x as usize);
            let new = after.opaque_rgb(y as usize * after.width() as usize + x as usize);
            // Rounding to whole steps first keeps "alpha 255 and threshold 0" an exact
            // byte comparison.
            let same = old
                .iter()
                .zip(new.iter())
                .all(|(o, n)| (o.round() - n.round()).abs() <= tolerance);
            if same {
                image.set_pixel(x, y, faded(new));
            } else {
                changed_pixels += 1;
            }
        }
    }
    let total_pixels = u64::from(width) * u64::from(height);
    let changed_share = if changed_pixels == 0 {
        0.0
    } else {
        changed_pixels as f64 / total_pixels as f64
    };
    PixelDiff {
        changed_pixels,
        total_pixels,
        changed_share,
        image,
    }
}

/// An unchanged pixel as the diff image shows it: its luma, faded 90 % towards white (as
/// pixelmatch's default `alpha = 0.1`), so the page stays recognisable behind the magenta.
fn faded(rgb: [f64; 3]) -> [u8; 4] {
    const KEEP: f64 = 0.1;
    let grey = crate::luma(rgb);
    let value = (255.0 + (grey - 255.0) * KEEP).round().clamp(0.0, 255.0) as u8;
    [value, value, value, 255]
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: [u8; 4] = [255, 255, 255, 255];
    const RED: [u8; 4] = [220, 30, 30, 255];

    #[test]
    fn identical_pictures_have_no_change() {
        let mut picture = Picture::filled(40, 30, WHITE);
        picture.fill_rect(5, 5, 10, 10, RED);
        let result = diff(&picture, &picture, DEFAULT_THRESHOLD);
        assert_eq!(result.changed_pixels, 0);
        assert_eq!(result.total_pixels, 1200);
        assert_eq!(result.changed_share, 0.0);
        assert!(result.image.pixels().chunks(4).all(|p| p != CHANGED_COLOUR));
    }

    #[test]
    fn a_moved_rectangle_changes_the_area_it_left_and_the_area_it_took() {
        let mut before = Picture::filled(100, 50, WHITE);
        before.fill_rect(10, 10, 20, 20, RED);
        let mut after = Picture::filled(100, 50, WHITE);
        after.fill_rect(20, 10, 20, 20, RED);
        let result = diff(&before, &after, DEFAULT_THRESHOLD);
        // Overlap x 20..30 stays red; x 10..20 turned white, x 30..40 turned red.
        assert_eq!(result.changed_pixels, 2 * 10 * 20);
        assert_eq!(result.changed_share, 400.0 / 5000.0);
        assert_eq!(result.image.pixel(15, 15), Some(CHANGED_COLOUR));
        assert_eq!(result.image.pixel(35, 29), Some(CHANGED_COLOUR));
        assert_ne!(result.image.pixel(25, 15), Some(CHANGED_COLOUR));
        assert_ne!(result.image.pixel(60, 40), Some(CHANGED_COLOUR));
    }

    #[test]
    fn noise_below_the_threshold_is_not_a_change_and_above_it_is() {
        let before = Picture::filled(10, 10, [100, 100, 100, 255]);
        let mut noisy = before.clone();
        for i in 0..10 {
            noisy.set_pixel(i, i, [108, 92, 104, 255]);
        }
        assert_eq!(diff(&before, &noisy, DEFAULT_THRESHOLD).changed_pixels, 0);
        noisy.set_pixel(3, 7, [109, 100, 100, 255]);
        assert_eq!(diff(&before, &noisy, DEFAULT_THRESHOLD).changed_pixels, 1);
        // Threshold 0 is an exact comparison.
        assert_eq!(diff(&before, &noisy, 0).changed_pixels, 11);
    }

    #[test]
    fn different_sizes_compare_on_the_union_canvas() {
        let before = Picture::filled(10, 4, WHITE);
        let after = Picture::filled(6, 8, WHITE);
        let result = diff(&before, &after, DEFAULT_THRESHOLD);
        assert_eq!((result.image.width(), result.image.height()), (10, 8));
        assert_eq!(result.total_pixels, 80);
        // Only the 6×4 corner is inside both.
        assert_eq!(result.changed_pixels, 80 - 24);
        assert_eq!(result.image.pixel(8, 1), Some(CHANGED_COLOUR));
        assert_eq!(result.image.pixel(2, 6), Some(CHANGED_COLOUR));
        assert_eq!(result.image.pixel(9, 7), Some(CHANGED_COLOUR));
    }

    #[test]
    fn unchanged_pixels_are_drawn_faded_grey() {
        let picture = Picture::filled(1, 1, [0, 0, 0, 255]);
        let result = diff(&picture, &picture, 0);
        // Black faded 90 % to white.
        assert_eq!(result.image.pixel(0, 0), Some([230, 230, 230, 255]));
    }

    #[test]
    fn two_empty_pictures_have_no_change() {
        let empty = Picture::filled(0, 0, WHITE);
        let result = diff(&empty, &empty, 0);
        assert_eq!((result.changed_pixels, result.total_pixels), (0, 0));
        assert_eq!(result.changed_share, 0.0);
    }
}
