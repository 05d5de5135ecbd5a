//! [`Envelope`]: what one SQS message carries between daemons — a copy of a stored event, or,
//! when the event is too large for a message, a pointer to it (session and seq) that the
//! receiver follows into the store. Pure: the JSON body a message carries is made and read
//! here, and nothing else decides the wire shape.

use devflow_protocol::Event;
use serde::{Deserialize, Serialize};

/// The largest message body that carries its event (200 KiB). SQS takes 256 KiB per message
/// and per batch (AWS's own queues now take up to 1 MiB, but SQS-compatible servers and
/// queues made with the old default do not); the margin leaves room for the batch's other
/// entries' framing. A larger event travels as an [`Envelope::Pointer`], which also keeps a
/// message within four of SQS's billed 64 KiB chunks.
pub const MAX_INLINE_BODY_BYTES: usize = 200 * 1024;

/// What travels in one SQS message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Envelope {
    /// The event itself (it carries its session id and seq).
    Event {
        event: Event,
        /// The id of the daemon that appended it.
        from: String,
    },
    /// The event was too large for SQS: the receiver reads it from the store.
    Pointer {
        session_id: String,
        seq: u64,
        /// The id of the daemon that appended it.
        from: String,
    },
    /// A method call forwarded to the daemon that runs the session (JSON-RPC method name
    /// and params), answered with a [`Envelope::Reply`] on `reply_to`.
    Request {
        id: String,
        method: String,
        params: serde_json::Value,
        /// The asking daemon's queue URL.
        reply_to: String,
        from: String,
    },
    /// The answer to a [`Envelope::Request`]: its result, or the error object.
    Reply {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<serde_json::Value>,
        from: String,
    },
}

impl Envelope {
    /// The session the event belongs to ("" for a request or a reply).
    pub fn session_id(&self) -> &str {
        match self {
            Envelope::Event { event, .. } => &event.session_id,
            Envelope::Pointer { session_id, .. } => session_id,
            Envelope::Request { .. } | Envelope::Reply { .. } => "",
        }
    }

    /// The event's seq in its session (0 for a request or a reply).
    pub fn seq(&self) -> u64 {
        match self {
            Envelope::Event { event, .. } => event.seq,
            Envelope::Pointer { seq, .. } => *seq,
            Envelope::Request { .. } | Envelope::Reply { .. } => 0,
        }
    }

    /// Whether this carries an event (or a pointer to one), as opposed to a call.
    pub fn is_event(&self) -> bool {
        matches!(self, Envelope::Event { .. } | Envelope::Pointer { .. })
    }

    /// The id of the daemon that sent it.
    pub fn from_daemon(&self) -> &str {
        match self {
            Envelope::Event { from, .. }
            | Envelope::Pointer { from, .. }
            | Envelope::Request { from, .. }
            | Envelope::Reply { from, .. } => from,
        }
    }

    /// The envelope for `event` appended by daemon `from`: the event itself when its body
    /// fits in [`MAX_INLINE_BODY_BYTES`], else a pointer to it.
    pub fn from_event(event: &Event, from: &str) -> Envelope {
        let inline = Envelope::Event {
            event: event.clone(),
            from: from.to_string(),
        };
        match inline.inline_body() {
            Some(_) => inline,
            None => inline.to_pointer(),
        }
    }

    /// The same event as a pointer (a pointer stays itself).
    pub fn to_pointer(&self) -> Envelope {
        Envelope::Pointer {
            session_id: self.session_id().to_string(),
            seq: self.seq(),
            from: self.from_daemon().to_string(),
        }
    }

    /// The message body: this envelope's JSON when it fits in [`MAX_INLINE_BODY_BYTES`], else
    /// its pointer's. Never larger than the limit, and only characters SQS accepts. A request
    /// or a reply is always itself (its sender checks [`Envelope::fits`] first).
    pub fn to_body(&self) -> String {
        if !self.is_event() {
            return json_body(self).unwrap_or_default();
        }
        self.inline_body().unwrap_or_else(|| {
            json_body(&self.to_pointer()).unwrap_or_else(|| {
                // A pointer is two strings and a number: serde_json cannot fail on it.
                format!(
                    "{{\"kind\":\"pointer\",\"sessionId\":{:?},\"seq\":{},\"from\":{:?}}}",
                    self.session_id(),
                    self.seq(),
                    self.from_daemon()
                )
            })
        })
    }

    /// Whether this envelope travels whole (a request or reply that does not cannot be sent).
    pub fn fits(&self) -> bool {
        self.inline_body().is_some()
    }

    /// The envelope in a message body.
    pub fn from_body(body: &str) -> Result<Envelope, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// This envelope's own body, if it fits.
    fn inline_body(&self) -> Option<String> {
        json_body(self).filter(|body| body.len() <= MAX_INLINE_BODY_BYTES)
    }
}

/// `envelope` as JSON that SQS accepts (`None` if it cannot be serialised, which the caller
/// answers with a pointer: the store has the event either way).
fn json_body(envelope: &Envelope) -> Option<String> {
    match serde_json::to_string(envelope) {
        Ok(json) => Some(sqs_safe(json)),
        Err(error) => {
            tracing::warn!(
                session_id = envelope.session_id(),
                seq = envelope.seq(),
                %error,
                "event not serialisable for SQS; sending a pointer to it"
            );
            None
        }
    }
}

/// SQS refuses a body with U+FFFE or U+FFFF (its allowed set is #x9, #xA, #xD, #x20–#xD7FF,
/// #xE000–#xFFFD, #x10000–#x10FFFF). serde_json already escapes the control characters and
/// Rust strings hold no surrogates, so these two are all that is left; JSON's structure is
/// ASCII, so they only occur inside strings, where `\uFFFE` means the same character.
fn sqs_safe(json: String) -> String {
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return json;
    }
    json.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_protocol::{CommandStatus, EventBody};

    fn event(seq: u64, message: &str) -> Event {
        Event {
            session_id: "s-1".into(),
            seq,
            at: 1_700_000_000_000,
            command_id: Some("c-1".into()),
            body: EventBody::Log {
                level: "info".into(),
                message: message.into(),
            },
        }
    }

    #[test]
    fn an_event_envelope_has_a_pinned_wire_shape() {
        let envelope = Envelope::from_event(
            &Event {
                session_id: "s-1".into(),
                seq: 7,
                at: 1000,
                command_id: Some("c-1".into()),
                body: EventBody::CommandStatus {
                    status: CommandStatus::Queued,
                    error_summary: None,
                },
            },
            "daemon-a",
        );
        let body = envelope.to_body();
        expect_test::expect![[r#"{"kind":"event","event":{"sessionId":"s-1","seq":7,"at":1000,"commandId":"c-1","type":"COMMAND_STATUS","data":{"status":"QUEUED"}},"from":"daemon-a"}"#]]
        .assert_eq(&body);
        assert_eq!(Envelope::from_body(&body).expect("reads back"), envelope);
    }

    #[test]
    fn a_pointer_envelope_has_a_pinned_wire_shape() {
        let pointer = Envelope::Pointer {
            session_id: "s-1".into(),
            seq: 9,
            from: "daemon-a".into(),
        };
        let body = pointer.to_body();
        expect_test::expect![[r#"{"kind":"pointer","sessionId":"s-1","seq":9,"from":"daemon-a"}"#]]
            .assert_eq(&body);
        assert_eq!(Envelope::from_body(&body).expect("reads back"), pointer);
    }

    #[test]
    fn an_event_too_large_for_a_message_travels_as_a_pointer() {
        let big = event(3, &"x".repeat(MAX_INLINE_BODY_BYTES));
        let envelope = Envelope::from_event(&big, "daemon-a");
        assert_eq!(
            envelope,
            Envelope::Pointer {
                session_id: "s-1".into(),
                seq: 3,
                from: "daemon-a".into()
            }
        );
        // A hand-made inline envelope of the same event still goes out as the pointer.
        let forced = Envelope::Event {
            event: big,
            from: "daemon-a".into(),
        };
        assert_eq!(Envelope::from_body(&forced.to_body()).ok(), Some(envelope));
    }

    #[test]
    fn an_event_just_within_the_limit_travels_whole() {
        let framing = Envelope::from_event(&event(3, ""), "daemon-a")
            .to_body()
            .len();
        let fits = event(3, &"y".repeat(MAX_INLINE_BODY_BYTES - framing));
        let envelope = Envelope::from_event(&fits, "daemon-a");
        assert_eq!(envelope.to_body().len(), MAX_INLINE_BODY_BYTES);
        assert!(matches!(envelope, Envelope::Event { .. }));
        let over = event(3, &"y".repeat(MAX_INLINE_BODY_BYTES - framing + 1));
        assert!(matches!(
            Envelope::from_event(&over, "daemon-a"),
            Envelope::Pointer { .. }
        ));
    }

    #[test]
    fn characters_sqs_refuses_are_escaped_and_read_back() {
        let envelope = Envelope::from_event(&event(1, "a\u{FFFE}b\u{FFFF}c\u{1}d"), "daemon-a");
        let body = envelope.to_body();
        assert!(
            !body.contains(['\u{FFFE}', '\u{FFFF}', '\u{1}']),
            "raw characters SQS refuses in {body:?}"
        );
        assert!(body.contains(r"a\ufffeb\uffffc\u0001d"), "{body}");
        assert_eq!(Envelope::from_body(&body).expect("reads back"), envelope);
    }

    #[test]
    fn a_request_and_its_reply_have_pinned_wire_shapes() {
        let request = Envelope::Request {
            id: "r-1".into(),
            method: "session/rollback".into(),
            params: serde_json::json!({"sessionId": "s-1"}),
            reply_to: "http://q/b".into(),
            from: "b".into(),
        };
        expect_test::expect![[r#"{"kind":"request","id":"r-1","method":"session/rollback","params":{"sessionId":"s-1"},"replyTo":"http://q/b","from":"b"}"#]]
        .assert_eq(&request.to_body());
        assert_eq!(
            Envelope::from_body(&request.to_body()).ok(),
            Some(request.clone())
        );
        let reply = Envelope::Reply {
            id: "r-1".into(),
            result: None,
            error: Some(serde_json::json!({"error": "CONFLICT"})),
            from: "a".into(),
        };
        expect_test::expect![[
            r#"{"kind":"reply","id":"r-1","error":{"error":"CONFLICT"},"from":"a"}"#
        ]]
        .assert_eq(&reply.to_body());
        assert!(!request.is_event() && !reply.is_event());
        assert_eq!((request.session_id(), request.seq()), ("", 0));
        let huge = Envelope::Request {
            id: "r-2".into(),
            method: "reference/set".into(),
            params: serde_json::json!({"x": "y".repeat(MAX_INLINE_BODY_BYTES)}),
            reply_to: "http://q/b".into(),
            from: "b".into(),
        };
        assert!(request.fits() && !huge.fits());
    }

    #[test]
    fn accessors_read_both_kinds() {
        let envelope = Envelope::from_event(&event(4, "m"), "daemon-b");
        assert_eq!(
            (
                envelope.session_id(),
                envelope.seq(),
                envelope.from_daemon()
            ),
            ("s-1", 4, "daemon-b")
        );
        let pointer = envelope.to_pointer();
        assert_eq!(
            (pointer.session_id(), pointer.seq(), pointer.from_daemon()),
            ("s-1", 4, "daemon-b")
        );
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_an_error() {
        assert!(Envelope::from_body("{\"kind\":\"other\"}").is_err());
        assert!(Envelope::from_body("not json").is_err());
    }
}
