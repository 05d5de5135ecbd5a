//! Per-session logs: a `tracing` layer that appends every event of devflow's own crates
//! recorded inside a span (or with a field) carrying `session_id` to
//! `logs/<session_id>.log` in the state dir. That file (or, with S3 blobs, its copy) is what
//! `logsUrl` serves, so a failure's summary always links to its full story.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub struct SessionLogLayer {
    dir: PathBuf,
}

impl SessionLogLayer {
    pub fn new(dir: PathBuf) -> Self {
        SessionLogLayer { dir }
    }
}

/// The session id (and other fields) a span was created with.
struct SpanFields {
    session_id: Option<String>,
    text: String,
}

#[derive(Default)]
struct FieldText {
    session_id: Option<String>,
    message: String,
    fields: String,
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "session_id" => self.session_id = Some(value.to_string()),
            "message" => self.message = value.to_string(),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "session_id" => {
                self.session_id = Some(format!("{value:?}").trim_matches('"').to_string())
            }
            "message" => self.message = format!("{value:?}"),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

/// Session ids are UUIDs; anything else is not used as a file name.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl<S> Layer<S> for SessionLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = FieldText::default();
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            let text = format!("{}{}", attrs.metadata().name(), visitor.fields);
            span.extensions_mut().insert(SpanFields {
                session_id: visitor.session_id,
                text,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut visitor = FieldText::default();
        values.record(&mut visitor);
        if let (Some(session_id), Some(span)) = (visitor.session_id, ctx.span(id)) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                fields.session_id = Some(session_id);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The session's story is devflow's own lines. Libraries' debug output (the AWS SDK
        // copying this very log to S3, HTTP clients) would drown it and, for the copy, feed
        // itself: every copy would log lines that make the log differ from the copy.
        if !event.metadata().target().starts_with("devflow") {
            return;
        }
        let mut visitor = FieldText::default();
        event.record(&mut visitor);
        let mut session_id = visitor.session_id.clone();
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    if session_id.is_none() {
                        session_id = fields.session_id.clone();
                    }
                    spans.push(fields.text.clone());
                }
            }
        }
        let Some(session_id) = session_id.filter(|id| safe_id(id)) else {
            return;
        };
        let place = if spans.is_empty() {
            String::new()
        } else {
            format!("{}: ", spans.join(":"))
        };
        let line = format!(
            "{} {:>5} {place}{}{}\n",
            format_utc(crate::now_millis()),
            event.metadata().level(),
            visitor.message,
            visitor.fields
        );
        let path = self.dir.join(format!("{session_id}.log"));
        let _ = std::fs::create_dir_all(&self.dir);
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// `2026-11-30T00:48:57.123Z` from Unix milliseconds (proleptic Gregorian, UTC).
pub fn format_utc(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_795_999_737_123), "2026-11-30T00:48:57.123Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn events_inside_a_session_span_land_in_that_sessions_file() {
        let dir = tempfile::tempdir().unwrap();
        let subscriber =
            tracing_subscriber::registry().with(SessionLogLayer::new(dir.path().to_path_buf()));
        let id = "0b5c1a7e-1111-4222-8333-944445555666";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("command", session_id = id, command_id = "c1");
            let _entered = span.enter();
            tracing::warn!(summary = "hunk 2 failed", "command FAILED");
            drop(_entered);
            tracing::info!("outside any session");
            tracing::info!(session_id = "../../etc/passwd", "hostile id");
            tracing::info!(target: "aws_sdk_s3::client", session_id = id, "library noise");
        });
        let text = std::fs::read_to_string(dir.path().join(format!("{id}.log"))).unwrap();
        assert!(
            text.contains(
                "WARN command command_id=\"c1\": command FAILED summary=\"hunk 2 failed\""
            ),
            "{text}"
        );
        assert!(!text.contains("outside any session"));
        assert!(
            !text.contains("library noise"),
            "only devflow's own lines: {text}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the session's own file is written"
        );
    }
}
