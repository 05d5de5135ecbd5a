//! devflow across several daemons: each daemon owns one SQS queue ([`DaemonQueue`],
//! `<prefix>daemon-<id>`), and every daemon that appends an event sends a copy of it to the
//! queues of the other daemons ([`FanoutSender`]). The store stays the truth: a message is only
//! a copy of a stored event ([`Envelope::Event`]) or a pointer to one ([`Envelope::Pointer`],
//! when the event is too large for SQS), so a lost, late, repeated or reordered message costs
//! a store read, never a wrong timeline. [`SeqGate`] (pure) is the receiver's first filter:
//! per session it hands on the next seq, drops repeats and reports gaps to read from the store.
//! [`cost`] (pure) models the SQS requests a fleet makes.
//!
//! Client set-up (endpoint, credentials, region) is the standard AWS chain, as for the S3 blob
//! store and the DynamoDB store; [`SqsClient`] is one SDK client that a [`DaemonQueue`] and any
//! number of [`FanoutSender`]s share (`DaemonQueue::sender`, `FanoutSender::new`).

mod client;
pub mod cost;
mod envelope;
mod error;
mod fanout;
mod gate;
mod queue;

pub use client::{SqsClient, SqsOptions};
pub use envelope::{Envelope, MAX_INLINE_BODY_BYTES};
pub use error::FleetError;
pub use fanout::{FanoutSender, SendReport};
pub use gate::{GateDecision, SeqGate};
pub use queue::{validate_daemon_id, DaemonQueue, Received, MAX_DAEMON_ID_LEN};
