//! RFC 4733 telephone-events (DTMF digits sent in RTP).
//!
//! Owns: decoding the 4-byte event payload ([`parse_event`]), naming events ([`event_char`]),
//! and [`DtmfLog`], which turns the packets of one stream into one [`DtmfEvent`] per key press.
//! A sender repeats every event packet while the key is held (growing duration, same RTP
//! timestamp) and sends the final packet with the end bit three times; all of them belong to
//! one event, identified by its RTP timestamp.

use crate::net::FrameRef;

/// The most events kept per stream (a hostile stream cannot grow the list without bound).
pub const MAX_EVENTS: usize = 512;

/// The payload of one telephone-event packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

/// Reads an event payload from its first four bytes.
pub fn parse_event(head: [u8; 4]) -> EventPayload {
    EventPayload {
        event: head[0],
        end: head[1] & 0x80 != 0,
        volume: head[1] & 0x3f,
        duration: u16::from_be_bytes([head[2], head[3]]),
    }
}

/// The key of a DTMF event (0-9, `*`, `#`, A-D) or `!` for flash (event 16); `None` for the
/// other tones of RFC 4734.
pub fn event_char(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + (event - 12)),
        16 => '!',
        _ => return None,
    })
}

/// One key press.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfEvent {
    pub event: u8,
    /// See [`event_char`].
    pub key: Option<char>,
    /// Arrival of the first packet of the event.
    pub first: FrameRef,
    /// The RTP timestamp shared by the event's packets.
    pub rtp_timestamp: u32,
    /// Largest duration seen, in timestamp units.
    pub duration: u16,
    pub volume: u8,
    /// An end packet was seen.
    pub ended: bool,
    /// Packets carrying this event (end retransmissions included).
    pub packets: u32,
}

/// The events of one stream.
#[derive(Debug, Clone, Default)]
pub struct DtmfLog {
    pub events: Vec<DtmfEvent>,
    /// Events not kept because [`MAX_EVENTS`] was reached.
    pub dropped: u64,
    /// Timestamp and code of the latest event, kept even when the list is full so that its
    /// repeats are not counted as new events.
    current: Option<(u32, u8)>,
}

impl DtmfLog {
    /// Takes one telephone-event packet.
    pub fn push(&mut self, rtp_timestamp: u32, payload: EventPayload, at: FrameRef) {
        if self.current == Some((rtp_timestamp, payload.event)) {
            if let Some(e) = self
                .events
                .last_mut()
                .filter(|e| e.rtp_timestamp == rtp_timestamp && e.event == payload.event)
            {
                e.duration = e.duration.max(payload.duration);
                e.ended |= payload.end;
                e.packets = e.packets.saturating_add(1);
            }
            return;
        }
        self.current = Some((rtp_timestamp, payload.event));
        if self.events.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        self.events.push(DtmfEvent {
            event: payload.event,
            key: event_char(payload.event),
            first: at,
            rtp_timestamp,
            duration: payload.duration,
            volume: payload.volume,
            ended: payload.end,
            packets: 1,
        });
    }

    /// The keys pressed, in order (flash and non-DTMF tones left out).
    pub fn digits(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| e.key)
            .filter(|&c| c != '!')
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u64) -> FrameRef {
        FrameRef {
            file: 0,
            number: n,
            ts_ns: n as i64 * 20_000_000,
        }
    }

    fn pkt(event: u8, end: bool, duration: u16) -> EventPayload {
        parse_event([
            event,
            if end { 0x80 | 10 } else { 10 },
            (duration >> 8) as u8,
            duration as u8,
        ])
    }

    #[test]
    fn names_keys() {
        let keys: String = (0..=16).filter_map(event_char).collect();
        assert_eq!(keys, "0123456789*#ABCD!");
        assert_eq!(event_char(17), None);
    }

    #[test]
    fn repeats_and_triple_end_make_one_event_per_key() {
        let mut log = DtmfLog::default();
        let mut n = 0;
        // Digit 1 held for 3 packets, then 3 end packets; digit # likewise; then 1 again.
        for (ts, ev) in [(1000u32, 1u8), (3000, 11), (5000, 1)] {
            for d in [160u16, 320, 480] {
                n += 1;
                log.push(ts, pkt(ev, false, d), at(n));
            }
            for _ in 0..3 {
                n += 1;
                log.push(ts, pkt(ev, true, 640), at(n));
            }
        }
        assert_eq!(log.digits(), "1#1");
        assert_eq!(log.events.len(), 3);
        let first = log.events[0];
        assert_eq!(first.first.number, 1);
        assert_eq!(first.duration, 640);
        assert!(first.ended);
        assert_eq!(first.packets, 6);
        assert_eq!(first.volume, 10);
        assert_eq!(log.events[1].first.number, 7);
    }

    #[test]
    fn list_is_bounded() {
        let mut log = DtmfLog::default();
        for i in 0..(MAX_EVENTS as u32 + 10) {
            log.push(i * 1000, pkt(5, true, 100), at(u64::from(i)));
            log.push(i * 1000, pkt(5, true, 100), at(u64::from(i)));
        }
        assert_eq!(log.events.len(), MAX_EVENTS);
        assert_eq!(log.dropped, 10);
    }
}
