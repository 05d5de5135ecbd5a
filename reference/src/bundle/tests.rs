//! Reference zips built in memory: what is read, what is ignored, what is refused.

use std::io::Write;

use zip::write::SimpleFileOptions;

use super::*;

const TOKENS: &str = r##"{ "color": { "$type": "color", "brand": { "$value": "#4f46e5" } } }"##;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n rest of a png";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0 rest of a jpeg";

enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn zip_of(items: &[Item<'_>]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for item in items {
        match item {
            Item::File(name, data) => {
                writer.start_file(*name, options).expect("start file");
                writer.write_all(data).expect("write");
            }
            Item::Dir(name) => writer.add_directory(*name, options).expect("dir"),
            Item::Symlink(name, target) => writer
                .add_symlink(*name, *target, options)
                .expect("symlink"),
        }
    }
    writer.finish().expect("finish").into_inner()
}

fn screen_names(bundle: &ReferenceBundle) -> Vec<(&str, &str, &str)> {
    bundle
        .screens
        .iter()
        .map(|s| (s.name.as_str(), s.media_type.as_str(), s.path.as_str()))
        .collect()
}

#[test]
fn reads_token_files_and_screens_named_after_their_pages() {
    let bytes = zip_of(&[
        Item::File("tokens.json", TOKENS.as_bytes()),
        Item::Dir("screens/"),
        Item::File("screens/home.png", PNG),
        Item::File("screens/about.HTML", b"<h1>About</h1>"),
        Item::File("screens/blog/post.jpeg", JPEG),
        Item::File("screens/assets/site.css", b"h1 { color: red }"),
        Item::File("README.md", b"notes"),
    ]);
    let bundle = read_reference_zip(&bytes).expect("valid reference zip");
    assert_eq!(bundle.tokens.len(), 1);
    assert_eq!(
        screen_names(&bundle),
        [
            ("about", "text/html", "screens/about.HTML"),
            ("blog/post", "image/jpeg", "screens/blog/post.jpeg"),
            ("home", "image/png", "screens/home.png"),
        ]
    );
    let reference = bundle.to_reference("ref-1", |s| format!("/references/ref-1/{}", s.path));
    assert_eq!(
        reference.screens[2].url,
        "/references/ref-1/screens/home.png"
    );
    assert_eq!(reference.drift_score, None);
}

#[test]
fn strips_one_wrapper_folder_and_ignores_macos_packing_noise() {
    let bytes = zip_of(&[
        Item::Dir("harbor/"),
        Item::File("harbor/tokens.json", TOKENS.as_bytes()),
        Item::File("harbor/.DS_Store", b"\0\0\0\x01Bud1"),
        Item::File("harbor/screens/home.png", PNG),
        Item::File("__MACOSX/harbor/._tokens.json", b"\0\x05\x16\x07"),
    ]);
    let bundle = read_reference_zip(&bytes).expect("valid");
    assert_eq!(
        screen_names(&bundle),
        [("home", "image/png", "screens/home.png")]
    );
}

#[test]
fn merges_several_token_files_with_aliases_between_them() {
    let bytes = zip_of(&[
        Item::File(
            "tokens/base.json",
            br##"{ "color": { "red": { "value": "#f00" } } }"##,
        ),
        Item::File(
            "tokens/semantic.json",
            br#"{ "danger": { "$type": "color", "$value": "{color.red}" } }"#,
        ),
        Item::File("$themes.json", b"[]"),
    ]);
    let bundle = read_reference_zip(&bytes).expect("valid");
    let paths: Vec<&str> = bundle.tokens.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["color.red", "danger"]);
}

#[test]
fn rejects_names_that_are_not_plain_relative_paths() {
    let cases = [
        ("../evil.json", "the name has a `.` or `..` component"),
        (
            "screens/../../evil.png",
            "the name has a `.` or `..` component",
        ),
        ("/etc/evil.json", "the name is an absolute path"),
        ("..\\evil.json", "the name contains a backslash"),
        ("C:/evil.json", "the name starts with a drive letter"),
        ("a//b.json", "the name has an empty path component"),
        ("bad\x1b[31m.json", "the name contains control characters"),
    ];
    for (name, reason) in cases {
        let bytes = zip_of(&[
            Item::File("tokens.json", TOKENS.as_bytes()),
            Item::File(name, b"{}"),
        ]);
        match read_reference_zip(&bytes) {
            Err(ReferenceError::UnsafeName { reason: got, .. }) => {
                assert_eq!(got, reason, "{name}")
            }
            other => panic!("{name}: expected UnsafeName, got {other:?}"),
        }
    }
}

#[test]
fn rejects_symlinks_even_inside_screens() {
    let bytes = zip_of(&[
        Item::File("tokens.json", TOKENS.as_bytes()),
        Item::Symlink("screens/home.png", "/etc/passwd"),
    ]);
    let err = read_reference_zip(&bytes).expect_err("symlink");
    assert_eq!(
        err.to_string(),
        "zip entry `screens/home.png` is a symbolic link; a reference zip may only hold plain files"
    );
}

#[test]
fn rejects_a_screen_whose_bytes_do_not_match_its_extension() {
    let bytes = zip_of(&[
        Item::File("tokens.json", TOKENS.as_bytes()),
        Item::File("screens/home.png", b"<html>not a png</html>"),
    ]);
    assert_eq!(
        read_reference_zip(&bytes).expect_err("fake png"),
        ReferenceError::NotAnImage {
            path: "screens/home.png".into(),
            expected: "PNG"
        }
    );
}

#[test]
fn rejects_two_screens_for_the_same_page() {
    let bytes = zip_of(&[
        Item::File("tokens.json", TOKENS.as_bytes()),
        Item::File("screens/home.png", PNG),
        Item::File("screens/home.html", b"<p>home</p>"),
    ]);
    assert!(matches!(
        read_reference_zip(&bytes),
        Err(ReferenceError::DuplicateScreen { ref name, .. }) if name == "home"
    ));
}

#[test]
fn rejects_a_zip_without_token_files_and_reports_token_errors() {
    let bytes = zip_of(&[Item::File("screens/home.png", PNG)]);
    assert_eq!(
        read_reference_zip(&bytes),
        Err(ReferenceError::NoTokenFiles)
    );

    let bytes = zip_of(&[Item::File(
        "tokens.json",
        br#"{ "a": { "$type": "color", "$value": "{b}" } }"#,
    )]);
    assert!(matches!(
        read_reference_zip(&bytes),
        Err(ReferenceError::Tokens(TokenError::DanglingReference { .. }))
    ));
}

#[test]
fn reads_a_single_token_json_document() {
    let bundle = read_reference_json("tokens.json", TOKENS.as_bytes()).expect("valid");
    assert_eq!(bundle.tokens[0].value, "#4f46e5");
    assert!(bundle.screens.is_empty());
    assert!(matches!(
        read_reference_json("tokens.json", b"\xff\xfe"),
        Err(ReferenceError::NotUtf8 { .. })
    ));
}
