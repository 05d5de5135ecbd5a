//! The response body the proxy sends: either the upstream's body passed through frame by
//! frame, or that body decoded (when upstream compressed it), its head's `<meta>` policies
//! widened ([`MetaPolicies`]) and run through the [`Injector`]. Either way each frame goes
//! out as soon as it arrives; only the injector's bounded lookahead (and an incomplete tag
//! in the head) is ever held.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

use crate::csp::MetaPolicies;
use crate::decode::Decoder;
use crate::inject::Injector;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the proxy produces.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Any body with `Bytes` frames, boxed as-is (no buffering).
pub fn passthrough<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

pin_project_lite::pin_project! {
    /// An HTML body with the reload client injected (and decoded first when needed).
    pub struct InjectBody<B> {
        #[pin]
        inner: B,
        decoder: Option<Decoder>,
        html: HtmlRewrite,
        queue: VecDeque<Bytes>,
        trailers: Option<HeaderMap>,
        ended: bool,
    }
}

impl<B> InjectBody<B> {
    pub fn new(inner: B, decoder: Option<Decoder>, html: HtmlRewrite) -> Self {
        InjectBody {
            inner,
            decoder,
            html,
            queue: VecDeque::new(),
            trailers: None,
            ended: false,
        }
    }
}

/// What an HTML page goes through: its `<meta>` policies, then the injector. Public (hidden)
/// only so `tests/fuzz.rs` drives exactly the rewrite the proxy streams pages through.
pub struct HtmlRewrite {
    pub meta: MetaPolicies,
    pub injector: Injector,
}

impl HtmlRewrite {
    /// Feeds one chunk; what can be sent now is appended to `queue`, in order.
    pub fn push(&mut self, chunk: Bytes, queue: &mut VecDeque<Bytes>) {
        let pieces = if self.meta.is_done() {
            vec![chunk]
        } else {
            let pieces = self.meta.push(chunk);
            self.nonce_if_needed();
            pieces
        };
        for piece in pieces {
            queue.extend(self.injector.push(piece));
        }
    }

    /// The page ended: the rest is appended to `queue`.
    pub fn finish(&mut self, queue: &mut VecDeque<Bytes>) {
        for piece in self.meta.finish() {
            queue.extend(self.injector.push(piece));
        }
        queue.extend(self.injector.finish());
    }

    /// A policy that relies on the nonce governs the tag when the tag goes after its
    /// `<meta>`: then the tag carries the nonce. (Placed before it — already, or at the start
    /// of the content — the tag is not governed by that policy and stays as it is.)
    fn nonce_if_needed(&mut self) {
        if self.injector.is_done() {
            return;
        }
        if let Some((nonce, from)) = self.meta.nonce_needed_from() {
            self.injector
                .set_snippet_from(from, Bytes::from(crate::client_tag_with_nonce(nonce)));
        }
    }
}

impl<B> Body for InjectBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            if let Some(chunk) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if let Some(trailers) = this.trailers.take() {
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            if *this.ended {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let decoded = match this.decoder.as_mut() {
                            Some(decoder) => decoder.push(&data)?,
                            None => data,
                        };
                        if !decoded.is_empty() {
                            this.html.push(decoded, this.queue);
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            finish(this.decoder, this.html, this.queue)?;
                            *this.trailers = Some(trailers);
                            *this.ended = true;
                        }
                    }
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
                None => {
                    finish(this.decoder, this.html, this.queue)?;
                    *this.ended = true;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.queue.is_empty() && self.trailers.is_none()
    }
}

fn finish(
    decoder: &mut Option<Decoder>,
    html: &mut HtmlRewrite,
    queue: &mut VecDeque<Bytes>,
) -> Result<(), BoxError> {
    if let Some(decoder) = decoder.as_mut() {
        let rest = decoder.finish()?;
        if !rest.is_empty() {
            html.push(rest, queue);
        }
    }
    html.finish(queue);
    Ok(())
}
