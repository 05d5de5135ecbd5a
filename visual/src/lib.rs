//! devflow-visual: picture arithmetic for screenshots — PNG in and out ([`Picture`]), the
//! pixel difference and changed-area share of a before/after pair ([`diff`]), structural
//! similarity ([`ssim`]) and dominant colours in CIELAB with a palette distance
//! ([`palette`], [`palette_distance`]), and both together as the [`Fidelity`] of a
//! screenshot to a reference screen.
//!
//! Pure and deterministic: bytes and pictures in, values out; no file system, no clock, no
//! randomness, no threads — the same input always gives the same output, bit for bit.

mod diff;
mod palette;
mod picture;
mod ssim;

pub use diff::{diff, PixelDiff, CHANGED_COLOUR, DEFAULT_THRESHOLD};
pub use palette::{palette, palette_distance, Lab, NO_COLOURS_DISTANCE, SEED_SEPARATION};
pub use picture::{Picture, PictureError};
pub use ssim::ssim;

/// How many dominant colours [`fidelity`] compares: enough for a page's background, text,
/// accent and a few surfaces, few enough that antialiasing shades fold into them.
pub const FIDELITY_PALETTE_COLOURS: usize = 8;

/// How close a screenshot is to a reference screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fidelity {
    /// [`ssim`] of the screenshot and the reference screen scaled to it: 1.0 is identical.
    pub ssim: f64,
    /// [`palette_distance`] of their [`FIDELITY_PALETTE_COLOURS`]-colour palettes, in
    /// ΔE76: 0 is the same colours in the same proportions.
    pub palette_distance: f64,
}

/// The [`Fidelity`] of `screenshot` to `reference_screen`; the reference is scaled to the
/// screenshot's size for SSIM (see [`ssim`]).
pub fn fidelity(screenshot: &Picture, reference_screen: &Picture) -> Fidelity {
    Fidelity {
        ssim: ssim(screenshot, reference_screen),
        palette_distance: palette_distance(
            &palette(screenshot, FIDELITY_PALETTE_COLOURS),
            &palette(reference_screen, FIDELITY_PALETTE_COLOURS),
        ),
    }
}

/// Rec. 601 luma of sRGB channels 0–255.
pub(crate) fn luma([r, g, b]: [f64; 3]) -> f64 {
    0.299 * r + 0.587 * g + 0.114 * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screenshot_is_perfectly_faithful_to_itself_and_less_to_a_restyled_copy() {
        let mut screen = Picture::filled(64, 40, [250, 250, 250, 255]);
        screen.fill_rect(0, 0, 64, 8, [25, 50, 120, 255]);
        screen.fill_rect(8, 16, 30, 6, [40, 40, 40, 255]);
        let same = fidelity(&screen, &screen);
        assert_eq!(
            same,
            Fidelity {
                ssim: 1.0,
                palette_distance: 0.0
            }
        );

        let mut restyled = screen.clone();
        restyled.fill_rect(0, 0, 64, 8, [200, 40, 40, 255]);
        let other = fidelity(&screen, &restyled);
        assert!(other.ssim < 1.0, "{other:?}");
        assert!(other.palette_distance > 0.0, "{other:?}");
    }
}
