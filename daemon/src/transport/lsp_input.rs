//! The editor's stdin, checked frame by frame before tower-lsp-server reads it.
//!
//! tower-lsp-server's reader ends the whole connection at the first frame it cannot decode
//! (its `FramedRead` stops after an error), so one malformed message from an editor, an
//! extension or a proxy in between would cut the editor off the daemon. [`FrameScanner`]
//! (pure) splits the byte stream into `Content-Length` frames itself and checks each body the
//! way tower-lsp-server will read it. A good frame is passed on byte for byte. A body that is
//! not JSON, or not a JSON-RPC message, is replaced by a request to [`INVALID_MESSAGE`],
//! whose handler answers with the JSON-RPC error the sender should get (-32700 parse error
//! or -32600 invalid request, with the message's id when it has a usable one). A header that
//! cannot be read is answered the same way, and the scanner resynchronises on the next
//! `Content-Length`, as tower-lsp-server's own codec does.

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::jsonrpc;

/// The method the substitute requests call; never sent by a client (`$/` is LSP's prefix
/// for protocol-internal methods).
pub const INVALID_MESSAGE: &str = "devflow/$/invalidMessage";

/// Longest header block accepted before the frame is given up as garbage.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest body accepted (a `session/upload` of a large site zip in base64 fits).
const MAX_BODY_BYTES: usize = 1024 * 1024 * 1024;
const CONTENT_LENGTH: &[u8] = b"Content-Length";

/// What one step of the input stream turned out to be.
#[derive(Debug, PartialEq)]
pub enum Scanned {
    /// A well-formed frame, as it arrived.
    Frame(Vec<u8>),
    /// Something to answer with a JSON-RPC error instead of passing it on.
    Invalid {
        id: Value,
        code: i64,
        message: String,
    },
}

/// Splits bytes into frames; see the module docs.
#[derive(Default)]
pub struct FrameScanner {
    buffer: Vec<u8>,
}

impl FrameScanner {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete step, or `None` until more bytes arrive.
    pub fn next(&mut self) -> Option<Scanned> {
        loop {
            let Some(header_end) = find(&self.buffer, b"\r\n\r\n") else {
                if self.buffer.len() > MAX_HEADER_BYTES {
                    return Some(self.resync("a frame header longer than 8 KiB"));
                }
                return None;
            };
            if header_end > MAX_HEADER_BYTES {
                return Some(self.resync("a frame header longer than 8 KiB"));
            }
            let length = match content_length(&self.buffer[..header_end]) {
                Ok(length) => length,
                Err(why) => return Some(self.resync(&why)),
            };
            let body_start = header_end + 4;
            if self.buffer.len() < body_start + length {
                return None;
            }
            let frame: Vec<u8> = self.buffer.drain(..body_start + length).collect();
            let body = &frame[body_start..];
            if body.is_empty() {
                // tower-lsp-server skips an empty body too.
                continue;
            }
            return Some(match check_body(body) {
                Ok(()) => Scanned::Frame(frame),
                Err(invalid) => invalid,
            });
        }
    }

    /// Drops bytes up to the next `Content-Length` after the start of the buffer (or all
    /// but a tail that could be the start of one) and reports the bad header.
    fn resync(&mut self, why: &str) -> Scanned {
        let skip = match find(self.buffer.get(1..).unwrap_or_default(), CONTENT_LENGTH) {
            Some(at) => at + 1,
            // Keep only an end that may be the start of the next header's name.
            None => {
                let kept = (1..CONTENT_LENGTH.len())
                    .rev()
                    .find(|&n| self.buffer.ends_with(&CONTENT_LENGTH[..n]))
                    .unwrap_or(0);
                (self.buffer.len() - kept).max(1)
            }
        };
        self.buffer.drain(..skip.min(self.buffer.len()));
        Scanned::Invalid {
            id: Value::Null,
            code: jsonrpc::ErrorCode::ParseError.code(),
            message: format!("Parse error: {why}; skipped to the next Content-Length header"),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The `Content-Length` of a header block, checked the way the LSP base protocol writes it.
fn content_length(header: &[u8]) -> Result<usize, String> {
    let header =
        std::str::from_utf8(header).map_err(|_| "a frame header that is not UTF-8".to_string())?;
    let mut length = None;
    for line in header.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("a header line without a colon: {:?}", clip(line)));
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("a malformed header name: {:?}", clip(name)));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let parsed: usize = value
                .trim()
                .parse()
                .map_err(|_| format!("Content-Length is not a length: {:?}", clip(value)))?;
            if parsed > MAX_BODY_BYTES {
                return Err(format!("Content-Length {parsed} is over the 1 GiB limit"));
            }
            length = Some(parsed);
        }
    }
    length.ok_or_else(|| "a frame header without Content-Length".to_string())
}

fn clip(text: &str) -> String {
    text.chars().take(60).collect()
}

/// Whether tower-lsp-server can read `body` as a message (a request, a notification or a
/// response); otherwise the error to answer with.
fn check_body(body: &[u8]) -> Result<(), Scanned> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Scanned::Invalid {
        id: Value::Null,
        code: jsonrpc::ErrorCode::ParseError.code(),
        message: format!("Parse error: the message is not JSON ({e})"),
    })?;
    let readable = serde_json::from_value::<jsonrpc::Request>(value.clone()).is_ok()
        || serde_json::from_value::<jsonrpc::Response>(value.clone()).is_ok();
    if readable {
        return Ok(());
    }
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_)))
            if serde_json::from_value::<jsonrpc::Id>(id.clone()).is_ok() =>
        {
            id.clone()
        }
        _ => Value::Null,
    };
    Err(Scanned::Invalid {
        id,
        code: jsonrpc::ErrorCode::InvalidRequest.code(),
        message: "Invalid request: not a JSON-RPC 2.0 request, notification or response".into(),
    })
}

/// The request that makes tower-lsp-server answer `invalid` for us, framed.
fn substitute(id: &Value, code: i64, message: &str) -> Vec<u8> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": INVALID_MESSAGE,
        "params": {"code": code, "message": message},
    })
    .to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Copies `input` to `output` through a [`FrameScanner`] until `input` ends (then `output`
/// is shut down, so the reader sees the end too) or `output` is gone.
pub async fn pump(mut input: impl AsyncRead + Unpin, mut output: impl AsyncWrite + Unpin) {
    let mut scanner = FrameScanner::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        scanner.push(&chunk[..n]);
        let mut answered_garbage = false;
        while let Some(step) = scanner.next() {
            let bytes = match step {
                Scanned::Frame(frame) => {
                    answered_garbage = false;
                    frame
                }
                // One answer for a run of garbage: tower-lsp-server refuses a second request
                // with the same id (`null`) while the first is in flight.
                Scanned::Invalid {
                    id: Value::Null, ..
                } if answered_garbage => continue,
                Scanned::Invalid { id, code, message } => {
                    tracing::warn!(code, %message, "answering a malformed editor message");
                    answered_garbage = id.is_null();
                    substitute(&id, code, &message)
                }
            };
            if output.write_all(&bytes).await.is_err() {
                return;
            }
        }
        if output.flush().await.is_err() {
            return;
        }
    }
    let _ = output.shutdown().await;
}

/// The process's stdin as an async stream, read on a thread of its own. tokio's `stdin()`
/// reads on the runtime's blocking pool, and a read still waiting there when `exit` arrives
/// would hold the runtime's shutdown (and the process) until the editor closes the pipe.
pub fn stdin() -> std::io::Result<impl AsyncRead> {
    use std::io::Read;
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("lsp-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match stdin.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if runtime.block_on(writer.write_all(&chunk[..n])).is_err() {
                    return; // the reader is gone: the connection ended
                }
            }
            let _ = runtime.block_on(writer.shutdown());
        })?;
    Ok(reader)
}

/// The handler of [`INVALID_MESSAGE`]: the error the substitute carries.
pub fn invalid_message_error(params: Option<Value>) -> jsonrpc::Error {
    let params = params.unwrap_or(Value::Null);
    let code = params["code"]
        .as_i64()
        .unwrap_or(jsonrpc::ErrorCode::InvalidRequest.code());
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::from(code),
        message: params["message"]
            .as_str()
            .unwrap_or("Invalid request")
            .to_string()
            .into(),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn scan(bytes: &[u8]) -> Vec<Scanned> {
        let mut scanner = FrameScanner::default();
        scanner.push(bytes);
        std::iter::from_fn(|| scanner.next()).collect()
    }

    const GOOD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"devflow/session/list"}"#;

    #[test]
    fn passes_good_frames_through_byte_for_byte_even_when_split() {
        let mut bytes = frame(GOOD);
        bytes.extend(frame(
            r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
        ));
        let mut scanner = FrameScanner::default();
        let mut out = Vec::new();
        for byte in &bytes {
            scanner.push(std::slice::from_ref(byte));
            while let Some(Scanned::Frame(f)) = scanner.next() {
                out.extend(f);
            }
        }
        assert_eq!(out, bytes);
    }

    #[test]
    fn a_body_that_is_not_json_becomes_a_parse_error_and_the_next_frame_still_comes() {
        let mut bytes = frame(r#"{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":1"#);
        bytes.extend(frame(GOOD));
        let steps = scan(&bytes);
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(
            matches!(
                &steps[0],
                Scanned::Invalid {
                    id: Value::Null,
                    code: -32700,
                    ..
                }
            ),
            "{steps:?}"
        );
        assert_eq!(steps[1], Scanned::Frame(frame(GOOD)));
    }

    #[test]
    fn json_that_is_not_a_message_is_an_invalid_request_with_its_id() {
        for (body, id) in [
            (r#"{"jsonrpc":"1.0","id":4,"method":"x"}"#, json!(4)),
            (r#"{"jsonrpc":"2.0","id":"a","method":7}"#, json!("a")),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#, Value::Null),
            (r#""just a string""#, Value::Null),
            (
                r#"{"jsonrpc":"2.0","id":{"no":1},"method":"x"}"#,
                Value::Null,
            ),
        ] {
            let steps = scan(&frame(body));
            assert_eq!(
                steps,
                vec![Scanned::Invalid {
                    id,
                    code: -32600,
                    message:
                        "Invalid request: not a JSON-RPC 2.0 request, notification or response"
                            .into()
                }],
                "{body}"
            );
        }
    }

    #[test]
    fn a_lying_header_is_reported_once_and_the_stream_resynchronises() {
        for garbage in [
            &b"Content-Length: abc\r\n\r\n{}"[..],
            b"Content-Type: x\r\n\r\n{}",
            b"Content-Length: -5\r\n\r\n{}",
            b"Content-Length: 99999999999999999999\r\n\r\n{}",
            b"Content-Length: 2\r\n{}",
            b"\x00\x01\x02 noise \xff\xfe",
        ] {
            let mut bytes = garbage.to_vec();
            bytes.extend(frame(GOOD));
            let steps = scan(&bytes);
            assert_eq!(
                steps.len(),
                2,
                "{:?}: {steps:?}",
                String::from_utf8_lossy(garbage)
            );
            assert!(
                matches!(&steps[0], Scanned::Invalid { code: -32700, .. }),
                "{steps:?}"
            );
            assert_eq!(steps[1], Scanned::Frame(frame(GOOD)));
        }
    }

    #[test]
    fn garbage_that_arrives_before_the_next_frame_is_dropped_not_rescanned_forever() {
        let mut scanner = FrameScanner::default();
        scanner.push(b"Content-Length: abc\r\n\r\n{}");
        let first = scanner.next();
        assert!(
            matches!(first, Some(Scanned::Invalid { code: -32700, .. })),
            "{first:?}"
        );
        // What is left cannot form a frame: at most one more report, then it waits.
        let mut reports = 0;
        while scanner.next().is_some() {
            reports += 1;
            assert!(reports < 3, "the scanner keeps reporting the same bytes");
        }
        scanner.push(b"Conte");
        assert_eq!(scanner.next(), None);
        scanner.push(&frame(GOOD)[5..]);
        assert_eq!(scanner.next(), Some(Scanned::Frame(frame(GOOD))));
    }

    #[test]
    fn the_substitute_is_a_request_tower_lsp_reads_with_the_original_id() {
        let bytes = substitute(&json!(12), -32600, "Invalid request");
        let steps = scan(&bytes);
        let [Scanned::Frame(frame)] = &steps[..] else {
            panic!("{steps:?}")
        };
        let body = &frame[frame
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header")
            + 4..];
        let request: jsonrpc::Request = serde_json::from_slice(body).expect("a request");
        assert_eq!(request.method(), INVALID_MESSAGE);
        assert_eq!(request.id(), Some(&jsonrpc::Id::Number(12)));
        let error = invalid_message_error(request.params().cloned());
        assert_eq!(error.code, jsonrpc::ErrorCode::InvalidRequest);
        assert_eq!(error.message, "Invalid request");
    }

    #[tokio::test]
    async fn pump_forwards_good_frames_answers_bad_ones_and_ends_with_its_input() {
        let mut input = frame("not json");
        input.extend(frame(GOOD));
        let (mut reader, writer) = tokio::io::duplex(1024);
        let task = tokio::spawn(pump(std::io::Cursor::new(input), writer));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.expect("read");
        task.await.expect("pump");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains(INVALID_MESSAGE), "{text}");
        assert!(text.ends_with(GOOD), "{text}");
    }
}
