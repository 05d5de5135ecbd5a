//! Structural similarity (SSIM, Wang et al. 2004) of two screenshots, on luma.
//!
//! Luma is Rec. 601 (`0.299 R + 0.587 G + 0.114 B` on the sRGB values over white, no
//! linearisation — what SSIM is usually computed on). Windows are 8×8 squares at a stride of
//! 4 pixels (plus one more window flush with the right / bottom edge when the stride does not
//! land there, so every pixel is covered), unweighted, with the standard constants K1 = 0.01,
//! K2 = 0.03, L = 255; the score is the mean over windows. A picture smaller than 8 pixels in
//! a direction gets one window as wide (or tall) as itself.
//!
//! Pure and deterministic; 1.0 exactly for identical pictures.

use crate::picture::Picture;

const WINDOW: usize = 8;
const STRIDE: usize = 4;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// SSIM of `a` and `b`, in [-1, 1] (1.0 for identical pictures).
///
/// When the sizes differ, `b` is scaled to `a`'s size first (area averaging of its luma: each
/// pixel of the scaled picture is the mean of the part of `b` it covers), so a reference
/// screen drawn at 1440×900 can be compared with a 1280×800 screenshot: the screenshot goes
/// first. This makes the score symmetric only for pictures of one size. A picture with no
/// pixels is similar only to another with none (1.0), else 0.0.
pub fn ssim(a: &Picture, b: &Picture) -> f64 {
    let (width, height) = (a.width() as usize, a.height() as usize);
    match (a.pixel_count(), b.pixel_count()) {
        (0, 0) => return 1.0,
        (0, _) | (_, 0) => return 0.0,
        _ => {}
    }
    let luma_a = luma_plane(a);
    let luma_b = if (a.width(), a.height()) == (b.width(), b.height()) {
        luma_plane(b)
    } else {
        resample(
            &luma_plane(b),
            (b.width() as usize, b.height() as usize),
            (width, height),
        )
    };
    let columns = window_starts(width);
    let rows = window_starts(height);
    let mut sum = 0.0;
    for &(top, window_height) in &rows {
        for &(left, window_width) in &columns {
            sum += window_ssim(
                &luma_a,
                &luma_b,
                width,
                (left, top, window_width, window_height),
            );
        }
    }
    let score = sum / (columns.len() * rows.len()) as f64;
    score.clamp(-1.0, 1.0)
}

fn luma_plane(picture: &Picture) -> Vec<f64> {
    (0..picture.pixel_count())
        .map(|index| crate::luma(picture.opaque_rgb(index)))
        .collect()
}

/// (start, length) of each window along a side of `length` pixels.
fn window_starts(length: usize) -> Vec<(usize, usize)> {
    if length <= WINDOW {
        return vec![(0, length)];
    }
    let mut starts: Vec<(usize, usize)> = (0..=length - WINDOW)
        .step_by(STRIDE)
        .map(|start| (start, WINDOW))
        .collect();
    if starts
        .last()
        .is_some_and(|&(start, _)| start + WINDOW < length)
    {
        starts.push((length - WINDOW, WINDOW));
    }
    starts
}

fn window_ssim(
    a: &[f64],
    b: &[f64],
    row_length: usize,
    (left, top, width, height): (usize, usize, usize, usize),
) -> f64 {
    let count = (width * height) as f64;
    let cells = || {
        (top..top + height).flat_map(move |y| (left..left + width).map(move |x| y * row_length + x))
    };
    let mean_a = cells().map(|i| a[i]).sum::<f64>() / count;
    let mean_b = cells().map(|i| b[i]).sum::<f64>() / count;
    let (mut variance_a, mut variance_b, mut covariance) = (0.0, 0.0, 0.0);
    for i in cells() {
        let (da, db) = (a[i] - mean_a, b[i] - mean_b);
        variance_a += da * da;
        variance_b += db * db;
        covariance += da * db;
    }
    variance_a /= count;
    variance_b /= count;
    covariance /= count;
    // For identical windows numerator and denominator are the same float operations on the
    // same values, so the ratio is exactly 1.
    ((2.0 * mean_a * mean_b + C1) * (2.0 * covariance + C2))
        / ((mean_a * mean_a + mean_b * mean_b + C1) * (variance_a + variance_b + C2))
}

/// Scales a plane of `from` (width, height) to `to` by area averaging, one axis at a time.
fn resample(plane: &[f64], from: (usize, usize), to: (usize, usize)) -> Vec<f64> {
    let (from_width, from_height) = from;
    let (to_width, to_height) = to;
    let across = axis_weights(from_width, to_width);
    let mut wide = vec![0.0; to_width * from_height];
    for y in 0..from_height {
        for (x, weights) in across.iter().enumerate() {
            wide[y * to_width + x] = weights
                .iter()
                .map(|&(source, weight)| plane[y * from_width + source] * weight)
                .sum();
        }
    }
    let down = axis_weights(from_height, to_height);
    let mut scaled = vec![0.0; to_width * to_height];
    for (y, weights) in down.iter().enumerate() {
        for x in 0..to_width {
            scaled[y * to_width + x] = weights
                .iter()
                .map(|&(source, weight)| wide[source * to_width + x] * weight)
                .sum();
        }
    }
    scaled
}

/// For each of `to` output cells, the source cells of a side of `from` it covers and how
/// much (weights sum to 1). `from` and `to` are both at least 1.
fn axis_weights(from: usize, to: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = from as f64 / to as f64;
    (0..to)
        .map(|cell| {
            let (start, end) = (cell as f64 * scale, (cell + 1) as f64 * scale);
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(from);
            (first..last)
                .map(|source| {
                    let overlap =
                        (end.min(source as f64 + 1.0) - start.max(source as f64)).max(0.0);
                    (source, overlap / scale)
                })
                .filter(|&(_, weight)| weight > 0.0)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: [u8; 4] = [255, 255, 255, 255];
    const NAVY: [u8; 4] = [20, 30, 110, 255];

    fn page_with_box(x: u32) -> Picture {
        let mut picture = Picture::filled(64, 48, WHITE);
        picture.fill_rect(x, 12, 16, 16, NAVY);
        picture
    }

    #[test]
    fn identical_pictures_score_exactly_one() {
        let picture = page_with_box(10);
        assert_eq!(ssim(&picture, &picture), 1.0);
        let flat = Picture::filled(5, 3, NAVY);
        assert_eq!(ssim(&flat, &flat), 1.0);
    }

    #[test]
    fn a_moved_box_scores_lower_than_an_unmoved_one_and_further_lower_when_gone() {
        let here = page_with_box(10);
        let nudged = ssim(&here, &page_with_box(12));
        let moved = ssim(&here, &page_with_box(40));
        assert!(nudged < 1.0, "{nudged}");
        assert!(moved < nudged, "{moved} < {nudged}");
        assert!(ssim(&here, &Picture::filled(64, 48, WHITE)) < 1.0);
    }

    #[test]
    fn opposite_solid_colours_are_dissimilar() {
        let black = Picture::filled(16, 16, [0, 0, 0, 255]);
        let white = Picture::filled(16, 16, WHITE);
        assert!(ssim(&black, &white) < 0.01);
    }

    #[test]
    fn the_second_picture_is_scaled_to_the_first() {
        // The same layout drawn at twice the size scales back to the same picture.
        let small = page_with_box(8);
        let mut large = Picture::filled(128, 96, WHITE);
        large.fill_rect(16, 24, 32, 32, NAVY);
        assert!((ssim(&small, &large) - 1.0).abs() < 1e-9);
        // At a size that does not divide evenly it is close but not exact.
        let mut odd = Picture::filled(100, 70, WHITE);
        odd.fill_rect(12, 17, 25, 23, NAVY);
        let score = ssim(&small, &odd);
        assert!(score > 0.8 && score < 1.0, "{score}");
    }

    #[test]
    fn windows_cover_every_pixel() {
        assert_eq!(window_starts(5), vec![(0, 5)]);
        assert_eq!(window_starts(8), vec![(0, 8)]);
        assert_eq!(window_starts(16), vec![(0, 8), (4, 8), (8, 8)]);
        assert_eq!(window_starts(18), vec![(0, 8), (4, 8), (8, 8), (10, 8)]);
    }

    #[test]
    fn area_weights_sum_to_one() {
        for (from, to) in [(10, 3), (3, 10), (1280, 390), (7, 7)] {
            for weights in axis_weights(from, to) {
                let total: f64 = weights.iter().map(|(_, w)| w).sum();
                assert!((total - 1.0).abs() < 1e-9, "{from}→{to}: {total}");
            }
        }
    }

    #[test]
    fn empty_pictures() {
        let empty = Picture::filled(0, 3, WHITE);
        assert_eq!(ssim(&empty, &empty), 1.0);
        assert_eq!(ssim(&empty, &page_with_box(0)), 0.0);
        assert_eq!(ssim(&page_with_box(0), &empty), 0.0);
    }
}
