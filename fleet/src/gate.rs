//! [`SeqGate`]: the receiving daemon's first filter over what SQS hands it. SQS standard queues
//! deliver at least once and in no promised order, so per session the gate remembers the
//! highest seq handed on and answers each envelope with deliver, drop (a repeat) or "read this
//! range from the store" (a gap, or a pointer). Pure: no clock, no IO; the caller does the
//! store reads and reports back with [`SeqGate::advance`].

use std::collections::HashMap;

use devflow_protocol::Event;

use crate::Envelope;

/// What to do with one envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum GateDecision {
    /// The next event of its session: hand it on (the gate has advanced past it).
    Deliver(Event),
    /// Already handed on (or read from the store): drop it, and ack its message.
    Duplicate,
    /// Events `(after, upto]` of the envelope's session are missing here: read them from the
    /// store, hand them on, then call [`SeqGate::advance`]`(session, upto)`. The gate does not
    /// move until then, so a failed read is simply asked for again by the next envelope.
    /// (The session is the envelope's: take [`Envelope::session_id`] before
    /// [`SeqGate::check`] consumes it.)
    Gap { after: u64, upto: u64 },
}

/// Per session, the highest seq handed on.
#[derive(Debug, Clone, Default)]
pub struct SeqGate {
    last: HashMap<String, u64>,
}

impl SeqGate {
    pub fn new() -> Self {
        SeqGate::default()
    }

    /// What to do with `envelope`, for a session whose last delivered seq is tracked here.
    ///
    /// A session the gate has no position for starts at this envelope: an event is delivered
    /// and recorded, a pointer is a gap of that one event. A daemon seeds a session it starts
    /// following with [`SeqGate::advance`] (the seq its subscribers already have from the
    /// store), so this only happens for sessions nobody here watched before, where the events
    /// before this one are history that a subscriber reads from the store anyway (and the
    /// daemon's hub drops whatever it already sent each subscriber).
    pub fn check(&mut self, envelope: Envelope) -> GateDecision {
        if !envelope.is_event() {
            return GateDecision::Duplicate; // calls do not pass the gate
        }
        let seq = envelope.seq();
        let last = self.last.get(envelope.session_id()).copied();
        match (envelope, last) {
            (Envelope::Event { event, .. }, None) => {
                self.last.insert(event.session_id.clone(), seq);
                GateDecision::Deliver(event)
            }
            (Envelope::Request { .. } | Envelope::Reply { .. }, None) => GateDecision::Duplicate,
            (Envelope::Pointer { .. }, None) => GateDecision::Gap {
                after: seq.saturating_sub(1),
                upto: seq,
            },
            (_, Some(last)) if seq <= last => GateDecision::Duplicate,
            (Envelope::Event { event, .. }, Some(last)) if seq == last + 1 => {
                self.last.insert(event.session_id.clone(), seq);
                GateDecision::Deliver(event)
            }
            (_, Some(last)) => GateDecision::Gap {
                after: last,
                upto: seq,
            },
        }
    }

    /// Everything of `session_id` up to `seq` has been handed on (read from the store after
    /// a [`GateDecision::Gap`], or the seq a new subscriber starts from). Never moves back.
    pub fn advance(&mut self, session_id: &str, seq: u64) {
        match self.last.get_mut(session_id) {
            Some(last) => *last = (*last).max(seq),
            None => {
                self.last.insert(session_id.to_string(), seq);
            }
        }
    }

    /// Stops tracking `session_id` (it ended, or this daemon has no subscriber to it left).
    pub fn forget(&mut self, session_id: &str) {
        self.last.remove(session_id);
    }

    /// The last seq of `session_id` handed on, if the session is tracked.
    pub fn last(&self, session_id: &str) -> Option<u64> {
        self.last.get(session_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_protocol::EventBody;

    fn event(session: &str, seq: u64) -> Envelope {
        Envelope::Event {
            event: Event {
                session_id: session.into(),
                seq,
                at: 0,
                command_id: None,
                body: EventBody::SessionPaused { paused: false },
            },
            from: "a".into(),
        }
    }

    fn pointer(session: &str, seq: u64) -> Envelope {
        Envelope::Pointer {
            session_id: session.into(),
            seq,
            from: "a".into(),
        }
    }

    fn delivered(decision: GateDecision) -> u64 {
        match decision {
            GateDecision::Deliver(event) => event.seq,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn delivers_the_next_seq_and_drops_repeats() {
        let mut gate = SeqGate::new();
        gate.advance("s", 4);
        assert_eq!(delivered(gate.check(event("s", 5))), 5);
        assert_eq!(gate.last("s"), Some(5));
        assert_eq!(gate.check(event("s", 5)), GateDecision::Duplicate);
        assert_eq!(gate.check(event("s", 2)), GateDecision::Duplicate);
        assert_eq!(gate.check(pointer("s", 5)), GateDecision::Duplicate);
        assert_eq!(gate.last("s"), Some(5));
    }

    #[test]
    fn a_jump_is_a_gap_that_holds_until_the_caller_advances() {
        let mut gate = SeqGate::new();
        gate.advance("s", 4);
        assert_eq!(
            gate.check(event("s", 8)),
            GateDecision::Gap { after: 4, upto: 8 }
        );
        // Not moved: the next envelope asks for the same range again.
        assert_eq!(gate.last("s"), Some(4));
        assert_eq!(
            gate.check(event("s", 7)),
            GateDecision::Gap { after: 4, upto: 7 }
        );
        gate.advance("s", 8);
        assert_eq!(gate.check(event("s", 6)), GateDecision::Duplicate);
        assert_eq!(delivered(gate.check(event("s", 9))), 9);
    }

    #[test]
    fn a_pointer_is_always_read_from_the_store() {
        let mut gate = SeqGate::new();
        gate.advance("s", 4);
        assert_eq!(
            gate.check(pointer("s", 5)),
            GateDecision::Gap { after: 4, upto: 5 }
        );
        assert_eq!(gate.last("s"), Some(4));
    }

    #[test]
    fn an_unseeded_session_starts_at_its_first_envelope() {
        let mut gate = SeqGate::new();
        assert_eq!(gate.last("s"), None);
        assert_eq!(delivered(gate.check(event("s", 40))), 40);
        assert_eq!(gate.last("s"), Some(40));
        assert_eq!(
            gate.check(pointer("t", 12)),
            GateDecision::Gap {
                after: 11,
                upto: 12
            }
        );
        assert_eq!(gate.last("t"), None);
    }

    #[test]
    fn sessions_are_tracked_apart() {
        let mut gate = SeqGate::new();
        gate.advance("s", 1);
        gate.advance("t", 10);
        assert_eq!(delivered(gate.check(event("s", 2))), 2);
        assert_eq!(gate.check(event("t", 2)), GateDecision::Duplicate);
        assert_eq!(delivered(gate.check(event("t", 11))), 11);
        assert_eq!((gate.last("s"), gate.last("t")), (Some(2), Some(11)));
    }

    #[test]
    fn advance_never_moves_back_and_forget_drops_the_position() {
        let mut gate = SeqGate::new();
        gate.advance("s", 9);
        gate.advance("s", 3);
        assert_eq!(gate.last("s"), Some(9));
        gate.forget("s");
        assert_eq!(gate.last("s"), None);
        assert_eq!(delivered(gate.check(event("s", 3))), 3);
    }

    #[test]
    fn shuffled_repeated_deliveries_hand_on_each_seq_once_in_order() {
        // What SQS may do: every event twice, in a scrambled order; gaps read "from the
        // store" (here: the seqs themselves). The subscriber must see 1..=30 once, in order.
        let mut arrivals: Vec<u64> = (1..=30).chain(1..=30).collect();
        // A fixed permutation (no clock, no randomness): multiply by a unit mod 60.
        arrivals = (0..arrivals.len())
            .map(|i| arrivals[(i * 37) % arrivals.len()])
            .collect();
        let mut gate = SeqGate::new();
        gate.advance("s", 0);
        let mut seen = Vec::new();
        for seq in arrivals {
            match gate.check(event("s", seq)) {
                GateDecision::Deliver(event) => seen.push(event.seq),
                GateDecision::Duplicate => {}
                GateDecision::Gap { after, upto } => {
                    seen.extend(after + 1..=upto);
                    gate.advance("s", upto);
                }
            }
        }
        assert_eq!(seen, (1..=30).collect::<Vec<_>>());
    }
}
