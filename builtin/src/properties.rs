//! Which CSS properties set which aspect of an element's design: the longhands a change is
//! about (`padding-top` … `padding-left`) and every property that sets them (`padding`,
//! `padding-inline`, …). Which kind of design value a property holds is the drift report's
//! own reading ([`property_kind`]), re-exported here for the rest of the crate.

pub(crate) use devflow_reference::drift::{property_kind, unprefixed};

/// What part of an element's design a change is about, as the group of longhands that
/// make it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aspect {
    Color,
    BackgroundColor,
    BorderColor,
    FontSize,
    FontFamily,
    FontWeight,
    Padding,
    Margin,
    Gap,
    Radius,
}

const SIDES: &[&str] = &["top", "right", "bottom", "left"];
const CORNERS: &[&str] = &["top-left", "top-right", "bottom-right", "bottom-left"];

/// The physical sides a `-top`/`-inline`/… suffix sets (`""` = all four).
fn sides_of(suffix: &str) -> Option<&'static [&'static str]> {
    Some(match suffix {
        "" => SIDES,
        "-top" | "-block-start" => &["top"],
        "-right" | "-inline-end" => &["right"],
        "-bottom" | "-block-end" => &["bottom"],
        "-left" | "-inline-start" => &["left"],
        "-inline" => &["left", "right"],
        "-block" => &["top", "bottom"],
        _ => return None,
    })
}

impl Aspect {
    pub fn longhands(self) -> &'static [&'static str] {
        match self {
            Aspect::Color => &["color"],
            Aspect::BackgroundColor => &["background-color"],
            Aspect::FontSize => &["font-size"],
            Aspect::FontFamily => &["font-family"],
            Aspect::FontWeight => &["font-weight"],
            Aspect::BorderColor | Aspect::Padding | Aspect::Margin => SIDES,
            Aspect::Gap => &["row", "column"],
            Aspect::Radius => CORNERS,
        }
    }

    /// Whether `property` sets `longhand` of this aspect.
    pub fn covers(self, property: &str, longhand: &str) -> bool {
        let p = unprefixed(property);
        match self {
            Aspect::Color => p == "color",
            Aspect::BackgroundColor => p == "background-color" || p == "background",
            Aspect::FontSize => p == "font-size" || p == "font",
            Aspect::FontFamily => p == "font-family" || p == "font",
            Aspect::FontWeight => p == "font-weight" || p == "font",
            Aspect::Padding | Aspect::Margin => {
                let prefix = if self == Aspect::Padding {
                    "padding"
                } else {
                    "margin"
                };
                p.strip_prefix(prefix)
                    .and_then(sides_of)
                    .is_some_and(|sides| sides.contains(&longhand))
            }
            Aspect::BorderColor => p
                .strip_prefix("border")
                .map(|rest| rest.strip_suffix("-color").unwrap_or(rest))
                .and_then(sides_of)
                .is_some_and(|sides| sides.contains(&longhand)),
            Aspect::Gap => match p {
                "gap" | "grid-gap" => true,
                "row-gap" | "grid-row-gap" => longhand == "row",
                "column-gap" | "grid-column-gap" => longhand == "column",
                _ => false,
            },
            Aspect::Radius => {
                let corner = match p {
                    "border-radius" => return true,
                    "border-start-start-radius" => "top-left",
                    "border-start-end-radius" => "top-right",
                    "border-end-end-radius" => "bottom-right",
                    "border-end-start-radius" => "bottom-left",
                    other => match other
                        .strip_prefix("border-")
                        .and_then(|r| r.strip_suffix("-radius"))
                    {
                        Some(corner) => corner,
                        None => return false,
                    },
                };
                corner == longhand
            }
        }
    }

    /// Whether any property of the aspect is set by `property`.
    pub fn covers_any(self, property: &str) -> bool {
        self.longhands().iter().any(|l| self.covers(property, l))
    }

    /// Inherited properties: an element without a rule of its own takes its parent's.
    pub fn inherited(self) -> bool {
        matches!(
            self,
            Aspect::Color | Aspect::FontSize | Aspect::FontFamily | Aspect::FontWeight
        )
    }

    /// The property to write when adding a declaration.
    pub fn property(self) -> &'static str {
        match self {
            Aspect::Color => "color",
            Aspect::BackgroundColor => "background-color",
            Aspect::BorderColor => "border-color",
            Aspect::FontSize => "font-size",
            Aspect::FontFamily => "font-family",
            Aspect::FontWeight => "font-weight",
            Aspect::Padding => "padding",
            Aspect::Margin => "margin",
            Aspect::Gap => "gap",
            Aspect::Radius => "border-radius",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_reference::DriftKind;

    #[test]
    fn maps_shorthands_and_logical_properties_to_longhands() {
        assert!(Aspect::Padding.covers("padding", "left"));
        assert!(Aspect::Padding.covers("padding-inline", "right"));
        assert!(!Aspect::Padding.covers("padding-top", "left"));
        assert!(Aspect::BorderColor.covers("border", "top"));
        assert!(Aspect::BorderColor.covers("border-left-color", "left"));
        assert!(!Aspect::BorderColor.covers("border-top-width", "top"));
        assert!(!Aspect::BorderColor.covers("border-radius", "top"));
        assert!(Aspect::Radius.covers("-webkit-border-radius", "top-left"));
        assert!(Aspect::Radius.covers("border-bottom-right-radius", "bottom-right"));
        assert!(!Aspect::Radius.covers("border-top-right-radius", "top-left"));
        assert!(Aspect::BackgroundColor.covers("background", "background-color"));
        assert!(Aspect::Gap.covers("row-gap", "row") && !Aspect::Gap.covers("row-gap", "column"));
        assert_eq!(property_kind("border-top"), Some(DriftKind::Color));
        assert_eq!(
            property_kind("-webkit-margin-start"),
            Some(DriftKind::Spacing)
        );
        assert_eq!(property_kind("line-height"), None);
    }
}
