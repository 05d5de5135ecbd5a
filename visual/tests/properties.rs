//! Properties of the picture arithmetic that hold for any picture: a picture never differs
//! from itself, SSIM is symmetric for pictures of one size and never above 1, and the palette
//! distance is symmetric and 0 from a palette to itself.

use devflow_visual::{diff, palette, palette_distance, ssim, Picture, DEFAULT_THRESHOLD};
use proptest::prelude::*;

/// A small picture: a few colours painted as rectangles over a background, so windows and
/// palettes see both flat areas and edges.
fn picture_of(width: u32, height: u32) -> impl Strategy<Value = Picture> {
    (
        any::<[u8; 4]>(),
        prop::collection::vec(
            (
                0..width,
                0..height,
                1..width + 1,
                1..height + 1,
                any::<[u8; 4]>(),
            ),
            0..5,
        ),
    )
        .prop_map(move |(background, rects)| {
            let mut picture = Picture::filled(width, height, background);
            for (x, y, w, h, colour) in rects {
                picture.fill_rect(x, y, w, h, colour);
            }
            picture
        })
}

fn any_picture() -> impl Strategy<Value = Picture> {
    (1u32..40, 1u32..40).prop_flat_map(|(w, h)| picture_of(w, h))
}

fn picture_pair() -> impl Strategy<Value = (Picture, Picture)> {
    (1u32..40, 1u32..40).prop_flat_map(|(w, h)| (picture_of(w, h), picture_of(w, h)))
}

proptest! {
    #[test]
    fn a_picture_does_not_differ_from_itself(picture in any_picture(), threshold in any::<u8>()) {
        let result = diff(&picture, &picture, threshold);
        prop_assert_eq!(result.changed_pixels, 0);
        prop_assert_eq!(result.changed_share, 0.0);
    }

    #[test]
    fn changed_share_stays_in_zero_to_one(a in any_picture(), b in any_picture()) {
        let result = diff(&a, &b, DEFAULT_THRESHOLD);
        prop_assert!((0.0..=1.0).contains(&result.changed_share));
        prop_assert_eq!(result.image.width(), a.width().max(b.width()));
    }

    #[test]
    fn ssim_is_symmetric_and_at_most_one((a, b) in picture_pair()) {
        let forward = ssim(&a, &b);
        prop_assert_eq!(forward, ssim(&b, &a));
        prop_assert!((-1.0..=1.0).contains(&forward), "{}", forward);
        prop_assert_eq!(ssim(&a, &a), 1.0);
    }

    #[test]
    fn ssim_of_different_sizes_stays_in_range(a in any_picture(), b in any_picture()) {
        let score = ssim(&a, &b);
        prop_assert!((-1.0..=1.0).contains(&score), "{}", score);
    }

    #[test]
    fn palette_distance_is_symmetric_and_zero_on_itself(a in any_picture(), b in any_picture(), k in 1usize..10) {
        let (pa, pb) = (palette(&a, k), palette(&b, k));
        prop_assert_eq!(palette_distance(&pa, &pa), 0.0);
        prop_assert_eq!(palette_distance(&pa, &pb), palette_distance(&pb, &pa));
        prop_assert!(palette_distance(&pa, &pb) >= 0.0);
        let total: f64 = pa.iter().map(|c| c.1).sum();
        prop_assert!((total - 1.0).abs() < 1e-9);
        prop_assert!(pa.len() <= k);
    }
}
