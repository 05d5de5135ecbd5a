//! What the browser tests share: a tiny HTTP/1.1 server on 127.0.0.1 serving fixed pages
//! (changeable while it runs, as a patch would change them), one path that never answers,
//! and finding the Chromium to test with.

#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use devflow_browser::Browser;

/// The path whose requests are held open and never answered.
pub const HANGING_PATH: &str = "/hang";

/// The Chromium the tests drive. Not finding one fails the test: these tests exist to run
/// against a real browser. `DEVFLOW_SKIP_BROWSER_TESTS=1` (set by hand, never by the
/// project's scripts) lets a machine without one return early.
pub fn chromium() -> Option<PathBuf> {
    if std::env::var("DEVFLOW_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("DEVFLOW_SKIP_BROWSER_TESTS=1: not running the browser test");
        return None;
    }
    Some(Browser::find().expect(
        "no Chromium found (DEVFLOW_CHROME, or chromium / chromium-browser / google-chrome \
         on PATH); install Debian's chromium package",
    ))
}

/// Path → (content type, body); anything else is a 404.
type Files = Mutex<HashMap<String, (&'static str, String)>>;

pub struct TestServer {
    address: SocketAddr,
    pages: Arc<Files>,
    /// Connections to [`HANGING_PATH`], kept open until the server goes.
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Told each time a request for [`HANGING_PATH`] arrives.
    pub hanging_request: Arc<tokio::sync::Notify>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let server = TestServer {
            address,
            pages: Arc::default(),
            held: Arc::default(),
            hanging_request: Arc::default(),
        };
        let (pages, held, hanging) = (
            server.pages.clone(),
            server.held.clone(),
            server.hanging_request.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (pages, held, hanging) = (pages.clone(), held.clone(), hanging.clone());
                std::thread::spawn(move || serve(stream, &pages, &held, &hanging));
            }
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Serves `body` as HTML at `path` from now on.
    pub fn page(&self, path: &str, body: &str) {
        self.file(path, "text/html; charset=utf-8", body);
    }

    pub fn file(&self, path: &str, content_type: &'static str, body: &str) {
        self.pages
            .lock()
            .unwrap()
            .insert(path.to_string(), (content_type, body.to_string()));
    }
}

fn serve(
    mut stream: TcpStream,
    pages: &Files,
    held: &Mutex<Vec<TcpStream>>,
    hanging: &tokio::sync::Notify,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    if path == HANGING_PATH {
        held.lock().unwrap().push(stream);
        hanging.notify_one();
        return;
    }
    let page = pages.lock().unwrap().get(&path).cloned();
    let (status, (content_type, body)) = match page {
        Some(page) => ("200 OK", page),
        None => ("404 Not Found", ("text/plain", format!("{path} not found"))),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
