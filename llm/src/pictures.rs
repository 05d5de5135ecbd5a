//! Which pictures go with a message, in which order, and how the message names them. For a
//! model that takes images: the page as the preview renders it now (a screenshot) is image 1,
//! the reference screen of that page comes next, then the screen of the pointed-at page, then
//! `home`, then the other screens by name — within the per-request caps of
//! [`crate::bedrock::MAX_IMAGES`] images of at most [`crate::bedrock::MAX_IMAGE_BYTES`] each.
//! HTML screens are shown as text (at most [`MAX_HTML_SCREENS`]), whatever the model.
//!
//! The notes returned carry each image's position, so the words of the message
//! ([`crate::context`]) and the image blocks the client sends cannot disagree. A model that
//! does not take images gets no screenshot and no word of one: it could do nothing with it.
//! Pure: bytes in, bytes and notes out.

use crate::bedrock::{MAX_IMAGES, MAX_IMAGE_BYTES};
use crate::context::{PageNowNote, ScreenNote};
use crate::model::{ImageFormat, ImageInput};

/// HTML reference screens shown as text, at most.
pub const MAX_HTML_SCREENS: usize = 2;

/// The page as the preview renders it now: one viewport's PNG screenshot.
#[derive(Clone, PartialEq, Eq)]
pub struct PageShot {
    /// The page's path on the preview (`/`, `/about.html`).
    pub path: String,
    /// The viewport's name (`desktop`).
    pub viewport: String,
    pub width: u32,
    pub height: u32,
    pub png: Vec<u8>,
}

impl std::fmt::Debug for PageShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageShot")
            .field("path", &self.path)
            .field("viewport", &self.viewport)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("png_bytes", &self.png.len())
            .finish()
    }
}

/// A reference screen as the reference bundle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// `home`, `blog/post`: the file's name under `screens/` without its extension.
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What goes with one message: the notes for the context builder and the images, in the
/// order the notes number them (image 1 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pictures {
    /// Present only when the screenshot goes as an image.
    pub page_now: Option<PageNowNote>,
    pub screens: Vec<ScreenNote>,
    pub images: Vec<ImageInput>,
}

/// Chooses and orders the pictures of one message (see the module doc). `target_page` is the
/// pointed-at page's URL or path, when the instruction points at an element.
pub fn choose(
    page_now: Option<PageShot>,
    screens: Vec<Screen>,
    target_page: Option<&str>,
    images_accepted: bool,
) -> Pictures {
    let mut images = Vec::new();
    let shown_page = page_now
        .as_ref()
        .map(|shot| screen_names_of_page(&shot.path));
    let page_now = page_now.and_then(|shot| {
        let fits = images_accepted && MAX_IMAGES > 0 && shot.png.len() <= MAX_IMAGE_BYTES;
        if !fits {
            return None;
        }
        images.push(ImageInput {
            name: format!("the page {} now", shot.path),
            format: ImageFormat::Png,
            bytes: shot.png,
        });
        Some(PageNowNote {
            path: shot.path,
            viewport: shot.viewport,
            width: shot.width,
            height: shot.height,
            image: images.len(),
        })
    });
    let pointed = target_page.map(screen_names_of_page);
    let is_of = |names: &Option<Vec<String>>, screen: &Screen| {
        names
            .as_ref()
            .is_some_and(|names| names.contains(&screen.name))
    };
    let mut screens = screens;
    screens.sort_by_key(|screen| {
        (
            !is_of(&shown_page, screen),
            !is_of(&pointed, screen),
            screen.name != "home",
            screen.name.clone(),
        )
    });
    let mut notes = Vec::new();
    let mut html_shown = 0;
    for screen in screens {
        let format = ImageFormat::from_name_or_media_type(&screen.media_type);
        let image = match format {
            Some(format)
                if images_accepted
                    && images.len() < MAX_IMAGES
                    && screen.bytes.len() <= MAX_IMAGE_BYTES =>
            {
                images.push(ImageInput {
                    name: screen.name.clone(),
                    format,
                    bytes: screen.bytes.clone(),
                });
                Some(images.len())
            }
            _ => None,
        };
        let html = (screen.media_type == "text/html" && html_shown < MAX_HTML_SCREENS)
            .then(|| String::from_utf8(screen.bytes).ok())
            .flatten();
        if html.is_some() {
            html_shown += 1;
        }
        notes.push(ScreenNote {
            name: screen.name,
            media_type: screen.media_type,
            image,
            html,
        });
    }
    Pictures {
        page_now,
        screens: notes,
        images,
    }
}

/// The names a page's reference screen may have: `/` → `home` or `index`, `/about` →
/// `about`, `/blog/post.html#top` → `blog/post`. Takes a URL or a path.
pub fn screen_names_of_page(url: &str) -> Vec<String> {
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]))
        .unwrap_or(url);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let trimmed = path.trim_matches('/');
    let trimmed = trimmed
        .strip_suffix(".html")
        .or_else(|| trimmed.strip_suffix(".htm"))
        .unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix("/index").unwrap_or(trimmed);
    if trimmed.is_empty() || trimmed == "index" {
        vec!["home".to_string(), "index".to_string()]
    } else {
        vec![trimmed.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shot(bytes: usize) -> PageShot {
        PageShot {
            path: "/".into(),
            viewport: "desktop".into(),
            width: 1280,
            height: 800,
            png: vec![1; bytes],
        }
    }

    fn png(name: &str, bytes: usize) -> Screen {
        Screen {
            name: name.into(),
            media_type: "image/png".into(),
            bytes: vec![2; bytes],
        }
    }

    fn html(name: &str) -> Screen {
        Screen {
            name: name.into(),
            media_type: "text/html".into(),
            bytes: format!("<h1>{name}</h1>").into_bytes(),
        }
    }

    /// (name, image position) of every image and note, in order.
    fn order(pictures: &Pictures) -> (Vec<String>, Vec<(String, Option<usize>)>) {
        (
            pictures.images.iter().map(|i| i.name.clone()).collect(),
            pictures
                .screens
                .iter()
                .map(|s| (s.name.clone(), s.image))
                .collect(),
        )
    }

    #[test]
    fn the_page_now_is_image_1_then_its_own_screen_then_the_pointed_at_page_and_home() {
        let screens = vec![
            png("zeta", 10),
            png("about", 10),
            png("pricing", 10),
            png("home", 10),
            png("contact", 10),
            html("legal"),
        ];
        let shown = PageShot {
            path: "/about.html".into(),
            ..shot(10)
        };
        let pictures = choose(Some(shown), screens, Some("http://h/pricing?x"), true);
        let (images, notes) = order(&pictures);
        assert_eq!(
            images,
            ["the page /about.html now", "about", "pricing", "home"]
        );
        assert_eq!(
            notes,
            [
                ("about".to_string(), Some(2)),
                ("pricing".to_string(), Some(3)),
                ("home".to_string(), Some(4)),
                // Over the cap of 4 images: named, not sent.
                ("contact".to_string(), None),
                ("legal".to_string(), None),
                ("zeta".to_string(), None),
            ]
        );
        let page = pictures.page_now.expect("the page now is attached");
        assert_eq!(
            (page.image, page.width, page.height, page.viewport.as_str()),
            (1, 1280, 800, "desktop")
        );
        assert_eq!(pictures.screens[4].html.as_deref(), Some("<h1>legal</h1>"));
        assert_eq!(pictures.images[0].bytes, vec![1; 10]);
        assert_eq!(pictures.images[0].format, ImageFormat::Png);
    }

    #[test]
    fn a_text_only_model_gets_no_images_and_no_page_now() {
        let pictures = choose(
            Some(shot(10)),
            vec![png("home", 10), html("about")],
            None,
            false,
        );
        assert!(pictures.images.is_empty());
        assert_eq!(pictures.page_now, None);
        assert_eq!(
            order(&pictures).1,
            [("home".to_string(), None), ("about".to_string(), None)]
        );
        assert!(
            pictures.screens[1].html.is_some(),
            "HTML screens still as text"
        );
    }

    #[test]
    fn images_over_the_byte_cap_are_skipped_and_the_numbers_stay_in_step() {
        let pictures = choose(
            Some(shot(MAX_IMAGE_BYTES + 1)),
            vec![
                png("home", MAX_IMAGE_BYTES + 1),
                png("about", MAX_IMAGE_BYTES),
            ],
            None,
            true,
        );
        assert_eq!(
            pictures.page_now, None,
            "a screenshot over the cap is not sent"
        );
        let (images, notes) = order(&pictures);
        assert_eq!(images, ["about"]);
        assert_eq!(
            notes,
            [("home".to_string(), None), ("about".to_string(), Some(1))]
        );
    }

    #[test]
    fn without_a_screenshot_the_pointed_at_page_then_home_lead() {
        let pictures = choose(
            None,
            vec![png("b", 1), png("home", 1), png("about", 1)],
            Some("/about/"),
            true,
        );
        assert_eq!(order(&pictures).0, ["about", "home", "b"]);
        let index_site = choose(
            Some(shot(1)),
            vec![png("a", 1), png("index", 1)],
            None,
            true,
        );
        assert_eq!(order(&index_site).0, ["the page / now", "index", "a"]);
    }

    #[test]
    fn page_urls_name_their_reference_screens() {
        for (url, name) in [
            ("http://127.0.0.1:5173/", "home"),
            ("http://127.0.0.1:5173", "home"),
            ("http://127.0.0.1:5173/index.html", "home"),
            ("http://127.0.0.1:5173/about?x=1", "about"),
            ("http://127.0.0.1:5173/blog/post.html#top", "blog/post"),
            ("/pricing/", "pricing"),
        ] {
            assert_eq!(screen_names_of_page(url)[0], name, "{url}");
        }
    }
}
