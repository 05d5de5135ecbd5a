//! Dominant colours of a picture in CIELAB, and a distance between two such palettes.
//!
//! Quantisation is a histogram of 4 bits per sRGB channel (4096 bins, each keeping the mean
//! of its pixels); the heaviest bin becomes the first colour, each next-heaviest bin at least
//! [`SEED_SEPARATION`] ΔE from every chosen colour the next, up to `k`; then every bin joins
//! its nearest chosen colour, whose Lab becomes the pixel-weighted mean of its bins. No
//! randomness and a fixed summation order: the same picture always gives the same palette.
//!
//! Colour difference is CIE76 (Euclidean ΔE*ab): the palette distance is a score to compare
//! before and after, and CIE76 keeps this crate free of devflow-reference (whose CIEDE2000
//! would bring its CSS parser, zip reader and the wire types into a pixel library).

use crate::picture::Picture;

/// A CIELAB colour (D65 white).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lab {
    pub l: f64,
    pub a: f64,
    pub b: f64,
}

/// How far apart (ΔE76) two histogram bins must be for both to become palette colours, so
/// the shades of one antialiased colour do not fill the palette.
pub const SEED_SEPARATION: f64 = 10.0;

/// What [`palette_distance`] gives when exactly one palette is empty: the ΔE76 from black to
/// white, the largest difference in lightness.
pub const NO_COLOURS_DISTANCE: f64 = 100.0;

impl Lab {
    /// CIELAB of sRGB channels 0–255 (the sRGB curve undone, D65 XYZ, then Lab).
    pub fn from_srgb([r, g, b]: [f64; 3]) -> Lab {
        fn linear(channel: f64) -> f64 {
            let c = channel / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        fn f(t: f64) -> f64 {
            const EPSILON: f64 = 216.0 / 24389.0;
            const KAPPA: f64 = 24389.0 / 27.0;
            if t > EPSILON {
                t.cbrt()
            } else {
                (KAPPA * t + 16.0) / 116.0
            }
        }
        let (r, g, b) = (linear(r), linear(g), linear(b));
        let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
        let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b;
        let z = (0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b) / 1.088_83;
        let (fx, fy, fz) = (f(x), f(y), f(z));
        Lab {
            l: 116.0 * fy - 16.0,
            a: 500.0 * (fx - fy),
            b: 200.0 * (fy - fz),
        }
    }

    /// CIE76 colour difference: the Euclidean distance in Lab. About 2.3 is the smallest
    /// difference most people see.
    pub fn delta_e76(self, other: Lab) -> f64 {
        ((self.l - other.l).powi(2) + (self.a - other.a).powi(2) + (self.b - other.b).powi(2))
            .sqrt()
    }
}

/// Up to `k` dominant colours of the picture with the share of its pixels each stands for
/// (shares sum to 1), heaviest first. Transparent pixels count as white. Empty for `k = 0` or
/// a picture without pixels.
pub fn palette(picture: &Picture, k: usize) -> Vec<(Lab, f64)> {
    let total = picture.pixel_count();
    if k == 0 || total == 0 {
        return Vec::new();
    }
    let mut counts = vec![0u64; 4096];
    let mut sums = vec![[0.0f64; 3]; 4096];
    for index in 0..total {
        let rgb = picture.opaque_rgb(index);
        let bin = rgb
            .iter()
            .fold(0usize, |bin, &c| (bin << 4) | (c.round() as usize >> 4));
        counts[bin] += 1;
        for (sum, c) in sums[bin].iter_mut().zip(rgb) {
            *sum += c;
        }
    }
    struct Bin {
        lab: Lab,
        count: u64,
    }
    let mut bins: Vec<Bin> = (0..4096)
        .filter(|&bin| counts[bin] > 0)
        .map(|bin| {
            let n = counts[bin] as f64;
            let [r, g, b] = sums[bin];
            Bin {
                lab: Lab::from_srgb([r / n, g / n, b / n]),
                count: counts[bin],
            }
        })
        .collect();
    // Stable: equal counts stay in bin order.
    bins.sort_by_key(|bin| std::cmp::Reverse(bin.count));

    let mut seeds: Vec<Lab> = Vec::new();
    for bin in &bins {
        if seeds.len() == k {
            break;
        }
        if seeds
            .iter()
            .all(|seed| seed.delta_e76(bin.lab) >= SEED_SEPARATION)
        {
            seeds.push(bin.lab);
        }
    }

    let mut members = vec![(0u64, [0.0f64; 3]); seeds.len()];
    for bin in &bins {
        let nearest = nearest(&seeds, bin.lab).0;
        let (count, sum) = &mut members[nearest];
        *count += bin.count;
        let weight = bin.count as f64;
        sum[0] += bin.lab.l * weight;
        sum[1] += bin.lab.a * weight;
        sum[2] += bin.lab.b * weight;
    }
    let mut colours: Vec<(Lab, f64)> = members
        .into_iter()
        .filter(|&(count, _)| count > 0)
        .map(|(count, [l, a, b])| {
            let n = count as f64;
            (
                Lab {
                    l: l / n,
                    a: a / n,
                    b: b / n,
                },
                n / total as f64,
            )
        })
        .collect();
    colours.sort_by(|x, y| y.1.total_cmp(&x.1));
    colours
}

/// Index of and ΔE76 to the colour of `among` nearest to `lab` (the first on a tie);
/// `among` is not empty.
fn nearest(among: &[Lab], lab: Lab) -> (usize, f64) {
    among
        .iter()
        .enumerate()
        .map(|(index, other)| (index, other.delta_e76(lab)))
        .fold((0, f64::INFINITY), |best, candidate| {
            if candidate.1 < best.1 {
                candidate
            } else {
                best
            }
        })
}

/// How far apart two palettes are, in ΔE76: for each colour of one palette the difference
/// to the nearest colour of the other, weighted by its share; averaged over both directions,
/// so the distance is symmetric. 0 for equal palettes (and two empty ones);
/// [`NO_COLOURS_DISTANCE`] when exactly one is empty.
pub fn palette_distance(a: &[(Lab, f64)], b: &[(Lab, f64)]) -> f64 {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return 0.0,
        (true, false) | (false, true) => return NO_COLOURS_DISTANCE,
        _ => {}
    }
    (one_way(a, b) + one_way(b, a)) / 2.0
}

fn one_way(from: &[(Lab, f64)], to: &[(Lab, f64)]) -> f64 {
    let targets: Vec<Lab> = to.iter().map(|&(lab, _)| lab).collect();
    let weight: f64 = from.iter().map(|&(_, share)| share.max(0.0)).sum();
    if weight > 0.0 {
        from.iter()
            .map(|&(lab, share)| share.max(0.0) * nearest(&targets, lab).1)
            .sum::<f64>()
            / weight
    } else {
        // Shares that say nothing: every colour counts the same.
        from.iter()
            .map(|&(lab, _)| nearest(&targets, lab).1)
            .sum::<f64>()
            / from.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: [u8; 4] = [255, 255, 255, 255];
    const BLUE: [u8; 4] = [30, 60, 200, 255];
    const ORANGE: [u8; 4] = [240, 140, 20, 255];

    #[test]
    fn lab_of_known_colours() {
        let white = Lab::from_srgb([255.0, 255.0, 255.0]);
        assert!((white.l - 100.0).abs() < 0.01 && white.a.abs() < 0.01 && white.b.abs() < 0.01);
        let black = Lab::from_srgb([0.0, 0.0, 0.0]);
        assert_eq!(black.l, 0.0);
        // sRGB red is L 53.24, a 80.09, b 67.20.
        let red = Lab::from_srgb([255.0, 0.0, 0.0]);
        assert!((red.l - 53.24).abs() < 0.01, "{red:?}");
        assert!((red.a - 80.09).abs() < 0.01, "{red:?}");
        assert!((red.b - 67.20).abs() < 0.01, "{red:?}");
    }

    #[test]
    fn a_solid_picture_has_one_colour_with_the_whole_share() {
        let colours = palette(&Picture::filled(20, 10, BLUE), 5);
        assert_eq!(colours.len(), 1);
        assert_eq!(colours[0].1, 1.0);
        let expected = Lab::from_srgb([30.0, 60.0, 200.0]);
        assert!(colours[0].0.delta_e76(expected) < 1e-9);
    }

    #[test]
    fn shares_follow_areas_heaviest_first() {
        let mut picture = Picture::filled(10, 10, WHITE);
        picture.fill_rect(0, 0, 10, 3, BLUE);
        picture.fill_rect(0, 9, 10, 1, ORANGE);
        let colours = palette(&picture, 8);
        let shares: Vec<f64> = colours.iter().map(|c| c.1).collect();
        assert_eq!(shares, vec![0.6, 0.3, 0.1]);
        assert!(colours[1].0.delta_e76(Lab::from_srgb([30.0, 60.0, 200.0])) < 1e-9);
    }

    #[test]
    fn close_shades_merge_into_one_colour() {
        let mut picture = Picture::filled(10, 10, BLUE);
        picture.fill_rect(0, 0, 10, 2, [34, 64, 204, 255]);
        let colours = palette(&picture, 8);
        assert_eq!(colours.len(), 1);
    }

    #[test]
    fn k_limits_the_colours_and_the_rest_join_the_nearest() {
        let mut picture = Picture::filled(10, 10, WHITE);
        picture.fill_rect(0, 0, 10, 3, BLUE);
        picture.fill_rect(0, 9, 10, 1, ORANGE);
        let colours = palette(&picture, 2);
        assert_eq!(colours.len(), 2);
        let total: f64 = colours.iter().map(|c| c.1).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(palette(&picture, 0).is_empty());
    }

    #[test]
    fn the_same_picture_gives_the_same_palette() {
        let mut picture = Picture::filled(32, 32, WHITE);
        for i in 0..32 {
            picture.fill_rect(i, i, 3, 1, [(i * 8) as u8, 100, 255 - (i * 8) as u8, 255]);
        }
        assert_eq!(palette(&picture, 6), palette(&picture.clone(), 6));
    }

    #[test]
    fn distance_grows_with_the_colour_change() {
        let page = |accent: [u8; 4]| {
            let mut picture = Picture::filled(20, 20, WHITE);
            picture.fill_rect(0, 0, 20, 5, accent);
            palette(&picture, 4)
        };
        let blue = page(BLUE);
        let near_blue = page([40, 70, 210, 255]);
        let orange = page(ORANGE);
        assert_eq!(palette_distance(&blue, &blue), 0.0);
        let small = palette_distance(&blue, &near_blue);
        let large = palette_distance(&blue, &orange);
        assert!(small > 0.0 && small < large, "{small} < {large}");
        assert_eq!(
            palette_distance(&blue, &orange),
            palette_distance(&orange, &blue)
        );
    }

    #[test]
    fn empty_palettes() {
        let some = palette(&Picture::filled(2, 2, BLUE), 3);
        assert_eq!(palette_distance(&[], &[]), 0.0);
        assert_eq!(palette_distance(&some, &[]), NO_COLOURS_DISTANCE);
        assert_eq!(palette_distance(&[], &some), NO_COLOURS_DISTANCE);
    }
}
