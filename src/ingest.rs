//! Glue from inputs to located SIP messages, with the books kept.
//!
//! Owns: driving frames (merged across inputs) through [`net::Decoder`] and
//! [`sip::framing::Framer`], and the accounting that makes sure nothing is silently lost:
//! every frame is counted exactly once as carried SIP, not SIP (by protocol), or undecodable
//! (by reason), and every capture defect is kept as a [`CaptureIssue`].

use std::collections::{BTreeMap, HashSet};

use crate::capture::{CaptureIssue, Frame, Input, Merged};
use crate::media::{ExpectedMedia, MediaKind, MediaTracker};
use crate::net::{
    self, Decoder, Delivery, DeliveryKind, Endpoint, FrameFate, FrameRef, NetConfig, Transport,
};
use crate::sip::framing::{Framer, PayloadClass};
use crate::sip::{self, SipMessage};

/// Largest SIP message kept whole (larger ones are cut and flagged by framing).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Per-input figures.
#[derive(Debug, Clone, Default)]
pub struct InputBooks {
    pub name: String,
    pub frames: u64,
    pub first_ts_ns: Option<i64>,
    pub last_ts_ns: Option<i64>,
}

/// Where every frame went.
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub inputs: Vec<InputBooks>,
    /// Frames read from all inputs.
    pub frames: u64,
    /// Frames whose bytes were (part of) at least one SIP message.
    pub sip_frames: u64,
    /// Frames that carried something else, by what it was.
    pub not_sip: BTreeMap<&'static str, u64>,
    /// Frames that could not be decoded, by reason.
    pub undecoded: BTreeMap<String, u64>,
    /// Frames and bytes of encrypted SIP (TLS), counted but not decoded.
    pub tls_frames: u64,
    /// Defects of the capture files themselves.
    pub issues: Vec<CaptureIssue>,
    /// Frames with undecodable content, with their reason (first ones only, for messages).
    pub undecoded_examples: Vec<(FrameRef, String)>,
}

/// How many undecodable frames are remembered by number for the user.
const EXAMPLES_KEPT: usize = 50;

impl Books {
    fn count_class(&mut self, class: PayloadClass) {
        match class {
            PayloadClass::Sip | PayloadClass::WebSocketSip => self.sip_frames += 1,
            PayloadClass::Tls => {
                self.tls_frames += 1;
                *self.not_sip.entry("tls (encrypted)").or_default() += 1;
            }
            PayloadClass::NotSip(what) => *self.not_sip.entry(what).or_default() += 1,
        }
    }

    fn count_undecoded(&mut self, frame: FrameRef, why: String) {
        if self.undecoded_examples.len() < EXAMPLES_KEPT {
            self.undecoded_examples.push((frame, why.clone()));
        }
        *self.undecoded.entry(why).or_default() += 1;
    }

    /// Frames accounted for; equals `frames` when the books balance.
    pub fn accounted(&self) -> u64 {
        self.sip_frames + self.not_sip.values().sum::<u64>() + self.undecoded.values().sum::<u64>()
    }
}

/// Ranks payload classes so that a frame seen in several deliveries is counted by the most
/// telling one (SIP wins over anything else).
fn rank(c: PayloadClass) -> u8 {
    match c {
        PayloadClass::Sip | PayloadClass::WebSocketSip => 3,
        PayloadClass::Tls => 2,
        PayloadClass::NotSip(_) => 1,
    }
}

/// Drives frames through the decoder and framer (and, when asked, the RTP/RTCP tracker).
pub struct Ingest {
    decoder: Decoder,
    framer: Framer,
    media: Option<MediaTracker>,
    /// Frames held for reassembly and not yet counted. A held frame is counted by the first
    /// delivery that names it, or by the decoder's end-of-input report; later deliveries that
    /// name it again (a TCP segment buffered as several pieces around other buffered pieces is
    /// handed out piece by piece) must not count it again. Only frames still held are kept, so
    /// this is bounded by what the reassemblers hold.
    held: HashSet<FrameRef, foldhash::fast::RandomState>,
    pub books: Books,
}

/// Tells the media tracker which address:port pairs an SDP body in `m` announces. Only
/// messages that carry an SDP media line are parsed here.
fn announce_sdp(media: &mut MediaTracker, m: &SipMessage) {
    if !media.wants_announcements() || memchr::memmem::find(&m.data, b"\nm=").is_none() {
        return;
    }
    let p = sip::parse(&m.data);
    let Some(sdp) = p.sdp() else { return };
    let call_id = p
        .call_id()
        .map(|c| sip::headers::lossy(c).into_owned())
        .unwrap_or_default();
    for md in &sdp.media {
        let (Some(port), Some(conn)) = (md.port, md.effective_connection) else {
            continue;
        };
        let Some(ip) = std::str::from_utf8(conn.address)
            .ok()
            .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        else {
            continue;
        };
        if port == 0 || ip.is_unspecified() {
            continue;
        }
        let codecs = md
            .codecs()
            .iter()
            .filter_map(|c| {
                let pt = c.payload_type?;
                let name = c.name.map(|n| sip::headers::lossy(n).into_owned())?;
                Some((pt, name, c.clock_rate.unwrap_or(0)))
            })
            .collect();
        let rtcp_port = md
            .rtcp()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u16>().ok());
        media.expect(
            Endpoint { ip, port },
            ExpectedMedia {
                call_id: call_id.clone(),
                codecs,
                rtcp_port,
                media: sip::headers::lossy(md.kind).into_owned(),
                announced_by: Some(m.frame),
            },
        );
    }
}

impl Default for Ingest {
    fn default() -> Self {
        Self::new()
    }
}

impl Ingest {
    pub fn new() -> Self {
        Ingest {
            decoder: Decoder::new(NetConfig::default()),
            framer: Framer::new(MAX_MESSAGE),
            media: None,
            held: HashSet::default(),
            books: Books::default(),
        }
    }

    /// Also analyses RTP and RTCP: datagrams the SIP layer does not take go to a
    /// [`MediaTracker`], and SDP bodies tell it which endpoints carry media.
    pub fn with_media(mut self) -> Self {
        self.media = Some(MediaTracker::new());
        self
    }

    /// Same as [`Ingest::with_media`], with a tracker made by the caller (e.g.
    /// [`MediaTracker::watcher`], which needs no SDP: announcements are then not parsed).
    pub fn with_media_tracker(mut self, tracker: MediaTracker) -> Self {
        self.media = Some(tracker);
        self
    }

    /// The media tracker, when media analysis is on.
    pub fn media(&self) -> Option<&MediaTracker> {
        self.media.as_ref()
    }

    /// Registers the inputs (for names and per-input figures), in command-line order.
    pub fn add_inputs(&mut self, inputs: &[Input]) {
        for i in inputs {
            self.books.inputs.push(InputBooks {
                name: i.name.clone(),
                ..Default::default()
            });
        }
    }

    /// Feeds one frame; every SIP message it completes goes to `emit`.
    pub fn push_frame(&mut self, frame: &Frame<'_>, emit: &mut dyn FnMut(SipMessage)) {
        let books = &mut self.books;
        books.frames += 1;
        if let Some(ib) = books.inputs.get_mut(frame.file as usize) {
            ib.frames += 1;
            ib.first_ts_ns.get_or_insert(frame.ts_ns);
            ib.last_ts_ns = Some(frame.ts_ns);
        }
        let me = FrameRef::of(frame);
        let framer = &mut self.framer;
        let media = &mut self.media;
        let held = &mut self.held;
        // The best class of the current frame over all deliveries it took part in.
        let mut mine: Option<PayloadClass> = None;
        let fate = self.decoder.push(frame, &mut |d: Delivery<'_>| {
            let mut class = match media {
                Some(tracker) => framer.push(&d, &mut |m| {
                    announce_sdp(tracker, &m);
                    emit(m)
                }),
                None => framer.push(&d, emit),
            };
            // A datagram quoted in an ICMP error never reached its receiver: not media.
            if let (
                Some(tracker),
                PayloadClass::NotSip(_),
                DeliveryKind::Datagram,
                Transport::Udp,
                false,
            ) = (
                media.as_mut(),
                class,
                d.kind,
                d.flow.transport,
                d.flags.bounced,
            ) {
                let at = d.completed_by;
                match tracker.push(&d.flow, at.ts_ns, at, d.data) {
                    Some(MediaKind::Rtp { .. }) | Some(MediaKind::RtpCandidate) => {
                        class = PayloadClass::NotSip("rtp")
                    }
                    Some(MediaKind::Rtcp) => class = PayloadClass::NotSip("rtcp"),
                    None => {}
                }
            }
            for f in d.frames {
                if *f == me {
                    if mine.is_none_or(|m| rank(class) > rank(m)) {
                        mine = Some(class);
                    }
                } else if !held.is_empty() && held.remove(f) {
                    // A frame held earlier (fragment, out-of-order segment) handed out now.
                    books.count_class(class);
                }
            }
        });
        match fate {
            FrameFate::Delivered => match mine {
                Some(c) => books.count_class(c),
                None => *books.not_sip.entry("no payload").or_default() += 1,
            },
            FrameFate::Held => {
                // Counted when handed out, or reported by `finish`; but a frame that both
                // completed something and is held cannot happen, so count what we saw.
                match mine {
                    Some(c) => books.count_class(c),
                    None => {
                        self.held.insert(me);
                    }
                }
            }
            FrameFate::NotSip(what) => match mine {
                Some(c) => books.count_class(c),
                None => *books.not_sip.entry(what).or_default() += 1,
            },
            FrameFate::Undecodable(why) => {
                let text = match why {
                    net::Undecodable::UnknownLinkType(n) => format!("unknown link type {n}"),
                    other => other.as_str().to_string(),
                };
                books.count_undecoded(me, text);
            }
        }
    }

    /// Records a capture defect.
    pub fn issue(&mut self, issue: CaptureIssue) {
        self.books.issues.push(issue);
    }

    /// End of input: flushes streams and fragment pools.
    pub fn finish(self, emit: &mut dyn FnMut(SipMessage)) -> Books {
        self.finish_all(emit).0
    }

    /// End of input, keeping the media tracker (when media analysis is on).
    pub fn finish_all(mut self, emit: &mut dyn FnMut(SipMessage)) -> (Books, Option<MediaTracker>) {
        let framer = &mut self.framer;
        let books = &mut self.books;
        let pending = &mut self.held;
        let held = self.decoder.finish(&mut |d: Delivery<'_>| {
            let class = framer.push(&d, emit);
            for f in d.frames {
                if pending.remove(f) {
                    books.count_class(class);
                }
            }
        });
        for (f, why) in held {
            if !pending.remove(&f) {
                // Already counted (when it was decoded, or by a delivery).
                continue;
            }
            match why {
                // Decoded fine, just not SIP: the datagram's protocol is known.
                net::Undecodable::FragmentOfNonSip(what) => {
                    *books.not_sip.entry(what).or_default() += 1
                }
                net::Undecodable::FragmentOfTcpSegment => {
                    *books
                        .not_sip
                        .entry("ip fragment of a tcp segment")
                        .or_default() += 1
                }
                other => books.count_undecoded(f, other.as_str().to_string()),
            }
        }
        // Held frames neither handed out nor reported would break the books; the decoder
        // promises there are none, but count them rather than lose them.
        let mut left: Vec<FrameRef> = pending.drain().collect();
        left.sort();
        for f in left {
            books.count_undecoded(f, "held for reassembly, never handed out".to_string());
        }
        framer.finish(emit);
        (self.books, self.media)
    }
}

/// Mapped capture bytes are handed back to the OS in steps of this size (a power of two) once
/// read, so resident memory does not grow with the file (a 1 GB file kept 1 GB resident).
const RELEASE_STEP: usize = 8 << 20;

/// Runs every frame of `inputs` (merged by time) through the pipeline.
pub fn run(inputs: &[Input], emit: &mut dyn FnMut(SipMessage)) -> Books {
    drive(Ingest::new(), inputs, emit).0
}

/// Same as [`run`], with RTP/RTCP analysis; returns the media tracker too.
pub fn run_with_media(inputs: &[Input], emit: &mut dyn FnMut(SipMessage)) -> (Books, MediaTracker) {
    let (books, media) = drive(Ingest::new().with_media(), inputs, emit);
    (books, media.unwrap_or_default())
}

fn drive(
    mut ing: Ingest,
    inputs: &[Input],
    emit: &mut dyn FnMut(SipMessage),
) -> (Books, Option<MediaTracker>) {
    ing.add_inputs(inputs);
    let iters = inputs.iter().map(|i| i.frames()).collect();
    // Per input: bytes up to here were handed back to the OS (see Input::release_range).
    let mut released = vec![0usize; inputs.len()];
    for item in Merged::new(iters) {
        match item {
            Ok(frame) => {
                ing.push_frame(&frame, emit);
                let file = usize::from(frame.file);
                if let (Some(done), Some(input)) = (released.get_mut(file), inputs.get(file)) {
                    // Everything before this frame is decoded (what the decoder keeps, it
                    // copied), so its pages need not stay resident.
                    let upto = usize::try_from(frame.offset).unwrap_or(0) & !(RELEASE_STEP - 1);
                    if upto >= done.saturating_add(RELEASE_STEP) {
                        input.release_range(*done, upto);
                        *done = upto;
                    }
                }
            }
            Err(issue) => ing.issue(issue),
        }
    }
    ing.finish_all(emit)
}

/// Messages per batch handed from the ingest thread to the consumer: large enough that the
/// channel costs nothing per message, small enough to keep little in flight.
const BATCH: usize = 256;
/// Batches in flight at most; the ingest thread waits when the consumer lags, so memory
/// stays bounded (about `BATCH * BATCHES_IN_FLIGHT` messages).
const BATCHES_IN_FLIGHT: usize = 8;

/// Same as [`run`] (and [`run_with_media`] when `media` is set), on two threads: capture
/// reading, network decoding and framing (plus RTP analysis) run on a helper thread, while
/// `consume` gets every message, in the same order as [`run`] would hand them, on the calling
/// thread (so it may write to non-`Send` outputs). `map` runs on the helper thread before
/// handing over; use it to move work off the consumer when the consumer is the busier side.
pub fn run_parallel<M: Send>(
    inputs: &[Input],
    media: bool,
    map: &(dyn Fn(SipMessage) -> M + Sync),
    consume: &mut dyn FnMut(M),
) -> (Books, Option<MediaTracker>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<M>>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let ing = if media {
                Ingest::new().with_media()
            } else {
                Ingest::new()
            };
            let mut batch = Vec::with_capacity(BATCH);
            let mut consumer_gone = false;
            let result = drive(ing, inputs, &mut |m| {
                if consumer_gone {
                    return;
                }
                batch.push(map(m));
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    consumer_gone = tx.send(full).is_err();
                }
            });
            if !batch.is_empty() && !consumer_gone {
                let _ = tx.send(batch);
            }
            result
        });
        for batch in rx {
            for m in batch {
                consume(m);
            }
        }
        match producer.join() {
            Ok(r) => r,
            // The helper thread can only fail by a bug that panicked: re-raise it here.
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Input {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::capture::open(&path, 0).unwrap()
    }

    /// The two-thread pipeline hands over the same messages, in the same order, with the
    /// same books, as the single-thread one; more messages than one batch cross threads.
    #[test]
    fn parallel_run_matches_the_sequential_one() {
        for name in [
            "call-tcp.pcap",
            "answered-call-proxy.pcap",
            "fork-parallel.pcap",
        ] {
            let inputs = vec![sample(name)];
            let mut seq = Vec::new();
            let books = run(&inputs, &mut |m| seq.push((m.frame, m.data)));
            let mut par = Vec::new();
            let (pbooks, media) =
                run_parallel(&inputs, false, &|m| (m.frame, m.data), &mut |x| par.push(x));
            assert!(!seq.is_empty(), "{name}");
            assert_eq!(seq, par, "{name}");
            assert!(media.is_none());
            assert_eq!(books.frames, pbooks.frames);
            assert_eq!(books.sip_frames, pbooks.sip_frames);
            assert_eq!(books.not_sip, pbooks.not_sip);
        }
        // Many inputs merged: well over one batch of messages.
        let inputs: Vec<Input> = (0..40u16)
            .map(|i| {
                let path = format!("{}/samples/fork-parallel.pcap", env!("CARGO_MANIFEST_DIR"));
                crate::capture::open(&path, i).unwrap()
            })
            .collect();
        let mut seq = Vec::new();
        run(&inputs, &mut |m| seq.push(m.frame));
        let mut par = Vec::new();
        run_parallel(&inputs, true, &|m| m.frame, &mut |f| par.push(f));
        assert!(seq.len() > BATCH, "{}", seq.len());
        assert_eq!(seq, par);
    }
}
