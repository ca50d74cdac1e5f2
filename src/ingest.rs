//! Glue from inputs to located SIP messages, with the books kept.
//!
//! Owns: driving frames (merged across inputs) through [`net::Decoder`] and
//! [`sip::framing::Framer`], and the accounting that makes sure nothing is silently lost:
//! every frame is counted exactly once as carried SIP, not SIP (by protocol), or undecodable
//! (by reason), and every capture defect is kept as a [`CaptureIssue`].
//!
//! A pass may also write every located message down ([`Source::Decode`] with `record`, see
//! `replay`), so that a later pass over the same inputs reads them back ([`Source::Replay`])
//! instead of decoding, reassembling and framing again.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::capture::{CaptureIssue, Frame, Input, Merged};
use crate::media::endpoints::MediaEndpoints;
use crate::media::{ExpectedMedia, MediaKind, MediaTracker};
use crate::net::{
    self, Decoder, Delivery, DeliveryKind, Endpoint, FrameFate, FrameRef, NetConfig, Transport,
};
use crate::sip::framing::{Framer, PayloadClass};
use crate::sip::{self, Located, SipMessage};

use pager::Pager;

pub mod moving;
mod pager;
mod replay;

pub use moving::Moving;
pub use replay::Recording;

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
    /// Frames counted in `not_sip` under a label the media tracker gave ("rtp", "rtcp"),
    /// by (the label they have without a tracker, the one counted): see
    /// [`Books::without_media_labels`].
    pub(crate) relabelled: BTreeMap<(&'static str, &'static str), u64>,
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

    /// Counts a frame by `class`, which the media tracker made of `plain`.
    fn count_classes(&mut self, class: PayloadClass, plain: PayloadClass) {
        self.count_class(class);
        if let (PayloadClass::NotSip(counted), PayloadClass::NotSip(was)) = (class, plain) {
            if counted != was {
                *self.relabelled.entry((was, counted)).or_default() += 1;
            }
        }
    }

    /// The books as a pass without RTP analysis keeps them: the media tracker only ever
    /// changes the label a frame that is not SIP is counted under (to "rtp" or "rtcp"), so
    /// its labels are undone.
    pub fn without_media_labels(&self) -> Books {
        let mut plain = self.clone();
        for ((was, counted), n) in std::mem::take(&mut plain.relabelled) {
            if let Some(c) = plain.not_sip.get_mut(counted) {
                *c = c.saturating_sub(n);
                if *c == 0 {
                    plain.not_sip.remove(counted);
                }
            }
            *plain.not_sip.entry(was).or_default() += n;
        }
        plain
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
    /// Endpoints of datagrams that could be media, when asked to note them
    /// ([`Ingest::with_media_endpoints`]).
    endpoints: Option<MediaEndpoints>,
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
fn announce_sdp(media: &mut MediaTracker, m: &Located<'_>) {
    if !media.wants_announcements() || memchr::memmem::find(m.data, b"\nm=").is_none() {
        return;
    }
    let p = sip::parse(m.data);
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
            endpoints: None,
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

    /// Notes the endpoints of every datagram the media tracker would look at and could take
    /// for media ([`MediaEndpoints`]): a first pass that lets the second keep fewer SDP
    /// announcements ([`MediaTracker::announcements_for`]).
    pub fn with_media_endpoints(mut self) -> Self {
        self.endpoints = Some(MediaEndpoints::new());
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
        self.push_frame_located(frame, &mut |m: Located<'_>| emit(m.to_message()))
    }

    /// Same as [`Ingest::push_frame`], handing out borrowed messages (valid during the call).
    pub fn push_frame_located(&mut self, frame: &Frame<'_>, emit: &mut dyn FnMut(Located<'_>)) {
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
        let endpoints = &mut self.endpoints;
        let held = &mut self.held;
        // The best class of the current frame over all deliveries it took part in.
        // With it, the class it had before the media tracker looked at it.
        let mut mine: Option<(PayloadClass, PayloadClass)> = None;
        let fate = self.decoder.push(frame, &mut |d: Delivery<'_>| {
            let mut class = match media {
                Some(tracker) => framer.push_located(&d, &mut |m| {
                    announce_sdp(tracker, &m);
                    emit(m)
                }),
                None => framer.push_located(&d, emit),
            };
            let plain = class;
            if let (Some(found), PayloadClass::NotSip(_), DeliveryKind::Datagram, false) =
                (endpoints.as_mut(), class, d.kind, d.flags.bounced)
            {
                // The datagrams the tracker below is shown.
                found.note(&d.flow, d.data);
            }
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
                    if mine.is_none_or(|(m, _)| rank(class) > rank(m)) {
                        mine = Some((class, plain));
                    }
                } else if !held.is_empty() && held.remove(f) {
                    // A frame held earlier (fragment, out-of-order segment) handed out now.
                    books.count_classes(class, plain);
                }
            }
        });
        match fate {
            FrameFate::Delivered => match mine {
                Some((c, plain)) => books.count_classes(c, plain),
                None => *books.not_sip.entry("no payload").or_default() += 1,
            },
            FrameFate::Held => {
                // Counted when handed out, or reported by `finish`; but a frame that both
                // completed something and is held cannot happen, so count what we saw.
                match mine {
                    Some((c, plain)) => books.count_classes(c, plain),
                    None => {
                        self.held.insert(me);
                    }
                }
            }
            FrameFate::NotSip(what) => match mine {
                Some((c, plain)) => books.count_classes(c, plain),
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
    pub fn finish_all(self, emit: &mut dyn FnMut(SipMessage)) -> (Books, Option<MediaTracker>) {
        self.finish_all_located(&mut |m: Located<'_>| emit(m.to_message()))
    }

    /// Same as [`Ingest::finish_all_located`], also handing back the endpoints noted
    /// ([`Ingest::with_media_endpoints`]).
    pub fn finish_with_endpoints(mut self, emit: &mut dyn FnMut(Located<'_>)) -> Finished {
        let endpoints = self.endpoints.take();
        let (books, media) = self.finish_all_located(emit);
        (books, media, endpoints)
    }

    /// Same as [`Ingest::finish_all`], handing out borrowed messages.
    pub fn finish_all_located(
        mut self,
        emit: &mut dyn FnMut(Located<'_>),
    ) -> (Books, Option<MediaTracker>) {
        let framer = &mut self.framer;
        let books = &mut self.books;
        let pending = &mut self.held;
        let held = self.decoder.finish(&mut |d: Delivery<'_>| {
            let class = framer.push_located(&d, emit);
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
        framer.finish_located(emit);
        (self.books, self.media)
    }
}

/// What a finished pass leaves: its books, the media tracker and the endpoints noted (when
/// asked for).
pub type Finished = (Books, Option<MediaTracker>, Option<MediaEndpoints>);

/// Runs every frame of `inputs` (merged by time) through the pipeline.
pub fn run(inputs: &[Input], emit: &mut dyn FnMut(SipMessage)) -> Books {
    drive(Ingest::new(), inputs, &mut |m: Located<'_>| {
        emit(m.to_message())
    })
    .0
}

/// Same as [`run`], handing out borrowed messages (valid during the call): for a consumer
/// that only reads them, no copy is made.
pub fn run_located(inputs: &[Input], emit: &mut dyn FnMut(Located<'_>)) -> Books {
    drive(Ingest::new(), inputs, emit).0
}

/// Same as [`run`], with RTP/RTCP analysis; returns the media tracker too.
pub fn run_with_media(inputs: &[Input], emit: &mut dyn FnMut(SipMessage)) -> (Books, MediaTracker) {
    let (books, media, _) = drive(Ingest::new().with_media(), inputs, &mut |m: Located<'_>| {
        emit(m.to_message())
    });
    (books, media.unwrap_or_default())
}

fn drive(ing: Ingest, inputs: &[Input], emit: &mut dyn FnMut(Located<'_>)) -> Finished {
    let never = |_: Option<&MediaTracker>| false;
    // Never stopped, so never the default.
    drive_until(ing, inputs, emit, &never, Release::AsRead).unwrap_or_default()
}

/// When [`drive_until`] hands the bytes of frames it has read back to the OS.
#[derive(Clone, Copy)]
enum Release<'a> {
    /// As soon as the next frame is reached: nothing handed out points into them any more.
    AsRead,
    /// Messages handed out may still point into the bytes read (raw batches of
    /// [`run_parallel_on_until`] in flight): per input, `reached` is set to each frame's
    /// offset before it is pushed (so that a batch can be stamped with it), and only bytes
    /// before `acked` (what the consumer has finished with) are released.
    Acked {
        reached: &'a [std::cell::Cell<usize>],
        acked: &'a [AtomicUsize],
    },
}

/// [`drive`], given a look at the media tracker after every frame and at the end: as soon as
/// `stop` says so, the run ends with `None`.
fn drive_until(
    mut ing: Ingest,
    inputs: &[Input],
    emit: &mut dyn FnMut(Located<'_>),
    stop: &dyn Fn(Option<&MediaTracker>) -> bool,
    release: Release<'_>,
) -> Option<Finished> {
    ing.add_inputs(inputs);
    let iters = inputs.iter().map(|i| i.frames()).collect();
    Pager::run(inputs, |pager| {
        for item in Merged::new(iters) {
            match item {
                Ok(frame) => {
                    let file = usize::from(frame.file);
                    let at = usize::try_from(frame.offset).unwrap_or(0);
                    // Everything before this frame is decoded (what the decoder keeps, it
                    // copied), so its pages need not stay resident, unless messages in flight
                    // still point there.
                    let limit = match release {
                        Release::AsRead => at,
                        Release::Acked { reached, acked } => {
                            if let Some(r) = reached.get(file) {
                                r.set(at);
                            }
                            acked
                                .get(file)
                                .map_or(0, |a| a.load(Ordering::Acquire).min(at))
                        }
                    };
                    pager.reading(file, at);
                    ing.push_frame_located(&frame, emit);
                    pager.done_before(file, limit);
                    if stop(ing.media()) {
                        return None;
                    }
                }
                Err(issue) => ing.issue(issue),
            }
        }
        Some(())
    })?;
    let result = ing.finish_with_endpoints(emit);
    // Datagrams completed at the end (reassembly) were shown to the tracker too.
    (!stop(result.1.as_ref())).then_some(result)
}

/// Messages per batch handed from the ingest thread to the consumer: large enough that the
/// channel costs nothing per message, small enough to keep little in flight.
const BATCH: usize = 256;
/// Messages per batch for a consumer that does almost nothing with each (the first pass of
/// the exact commands keeps a Call-ID's hash): it sleeps between batches, and waking it is
/// the decoding thread's cost, so fewer, larger batches. On `calls` over 1 GB the first pass
/// went from 0.68-0.93 s (median 0.73) to 0.65-0.86 s (median 0.68) with 1,024 instead of 256,
/// ten runs each in alternation; 4,096 gained nothing more.
const LIGHT_BATCH: usize = 1024;
/// Batches in flight at most; the ingest thread waits when the consumer lags, so memory
/// stays bounded (about `BATCH * BATCHES_IN_FLIGHT` messages).
const BATCHES_IN_FLIGHT: usize = 8;
/// Capture bytes a batch of [`run_parallel_split`] spans at most: it goes out early when the
/// reader has moved this far since its first message. The mapped pages behind the reader
/// are handed back only once the consumer is done with the messages pointing into them, so
/// where SIP is sparse (a capture mostly RTP: 256 messages spread over 6 MB) whole batches
/// kept tens of megabytes of the capture resident (`diagnose` on 1 GB with RTP peaked at
/// 158 MB). Where SIP is dense a batch spans about 150 KB and this never applies.
const BATCH_SPAN: usize = 2 << 20;

/// Same as [`run`] (and [`run_with_media`] when `media` is set), on two threads: capture
/// reading, network decoding and framing (plus RTP analysis) run on a helper thread, while
/// `consume` gets every message, in the same order as [`run`] would hand them, on the calling
/// thread (so it may write to non-`Send` outputs). `map` runs on the helper thread before
/// handing over; use it to move work off the consumer when the consumer is the busier side.
pub fn run_parallel<M: Send>(
    inputs: &[Input],
    media: bool,
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M),
) -> (Books, Option<MediaTracker>) {
    let ing = if media {
        Ingest::new().with_media()
    } else {
        Ingest::new()
    };
    let (books, media, _) = run_parallel_on(ing, inputs, map, consume);
    (books, media)
}

/// [`run_parallel`] through a pipeline set up by the caller (a media tracker of its own,
/// endpoints noted).
pub fn run_parallel_on<M: Send>(
    ing: Ingest,
    inputs: &[Input],
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M),
) -> Finished {
    let never = |_: Option<&MediaTracker>| false;
    // Never stopped, so never the default.
    run_parallel_on_until(ing, inputs, &never, map, consume).unwrap_or_default()
}

/// [`run_parallel_on`], with `stop` shown the media tracker (if any) after every frame and at
/// the end: as soon as it says so, the helper thread stops reading and the run ends with
/// `None` (the consumer may have been handed part of the messages).
///
/// `map` runs on whichever thread has time for it (see [`MAP_WHEN_QUEUED`]): the helper
/// thread maps a batch itself when the consumer has a backlog, and otherwise hands the
/// messages over unmapped (as positions, like [`run_parallel_located`]) for the consumer to
/// map just before consuming them. The order of the messages handed to `consume` is the same
/// either way.
pub fn run_parallel_on_until<M: Send>(
    ing: Ingest,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M),
) -> Option<Finished> {
    let consume = &mut |m, _: &mut Vec<()>| consume(m);
    run_parallel_split(ing, inputs, stop, map, consume, MAP_WHEN_QUEUED)
}

/// [`run_parallel_on_until`] (mapping shared as there) with `consume` given a bin for what it
/// is done with, emptied on the helper thread between batches as in
/// [`run_parallel_on_until_recycling`]. The messages the consumer mapped are then freed across
/// threads, the helper's own on the thread that built them; either way the freeing leaves the
/// consumer, for consumers that are the busier side (`calls`).
pub fn run_parallel_on_until_returning<M: Send, T: Send>(
    ing: Ingest,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M, &mut Vec<T>),
) -> Option<Finished> {
    run_parallel_split(ing, inputs, stop, map, consume, MAP_WHEN_QUEUED)
}

/// [`run_parallel_on_until`] with every message mapped on the helper thread, and `consume`
/// given a bin for what it is done with (a call's messages): the bin goes back to the helper
/// thread with the batch's emptied parcel and is emptied there, between batches (bins that
/// come back once the helper thread is done are emptied by the consumer). So values
/// that `map` built are freed on the thread that allocated them (mimalloc frees a block from
/// another thread through an atomic list that the owner must collect, with the cache lines
/// moving across). For consumers that are the busier side anyway (`diagnose`: 1.68 -> 1.46 s
/// CPU, best of 5, on 100 MB), whose messages the shared mapping would mostly leave to the
/// helper thread.
pub fn run_parallel_on_until_recycling<M: Send, T: Send>(
    ing: Ingest,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M, &mut Vec<T>),
) -> Option<Finished> {
    run_parallel_split(ing, inputs, stop, map, consume, 0)
}

/// The helper thread maps a batch itself when at least this many batches wait for the
/// consumer as the batch is begun; with fewer, the consumer may soon run dry, so the batch
/// goes unmapped and the consumer maps it. The feedback keeps the queue near this length, so
/// the busier side gets less of the mapping (a consumer that is the slower side anyway, as in
/// the ndjson export, keeps the queue full and gets everything mapped). Half the channel's
/// depth leaves room both ways: the consumer does not run dry while the helper maps a batch,
/// and the helper does not wait on a full channel while it sends raw ones. On `calls` over
/// 100 MB, 2 to 6 measured alike (wall about a quarter below mapping everything on the
/// helper thread); callgrind splits the instructions about evenly between the threads.
const MAP_WHEN_QUEUED: usize = BATCHES_IN_FLIGHT / 2;

/// One batch of messages from the helper thread of [`run_parallel_split`]: mapped (`mapped`)
/// or raw (`raw`, positions and copies), never both. Parcels go back to the helper thread once
/// read and are refilled, so their buffers are reused.
struct Parcel<M, T> {
    mapped: Vec<M>,
    raw: Batch,
    /// On the way back: what the consumer is done with, to be dropped on the helper thread.
    trash: Vec<T>,
}

impl<M, T> Default for Parcel<M, T> {
    fn default() -> Self {
        Parcel {
            mapped: Vec::new(),
            raw: Batch::default(),
            trash: Vec::new(),
        }
    }
}

impl<M, T> Parcel<M, T> {
    fn len(&self) -> usize {
        self.mapped.len() + self.raw.entries.len()
    }

    /// Room for a whole batch in the half about to be filled (mapped or raw), so that it is
    /// not grown (and its large values copied) message by message; a parcel reused keeps it.
    fn make_room(&mut self, mapped: bool, batch: usize) {
        if mapped {
            self.mapped.reserve_exact(batch);
        } else {
            self.raw.make_room(batch);
        }
    }
}

/// Where the helper thread of [`run_parallel_from`] gets the messages.
pub enum Source<'r> {
    /// Decodes, reassembles and frames the inputs through `ing`; with `record`, also writes
    /// every message down ([`Recording`], with the books as a pass without RTP analysis
    /// keeps them: [`Books::without_media_labels`]) when the run is not stopped.
    Decode { ing: Ingest, record: bool },
    /// Reads back the messages a pass over the same inputs recorded, when `ing` keeps the
    /// books as that pass did (no media tracker); otherwise, or when the recording cannot be
    /// read from its start, decodes through `ing`. A record that cannot be read midway ends
    /// the replay: decoding through `ing` then takes over at the same message.
    Replay {
        ing: Ingest,
        recording: &'r Recording,
    },
}

/// [`run_parallel_on_until`] with the helper thread mapping a batch when at least
/// `map_when_queued` batches wait for the consumer (0: always; `usize::MAX`: never).
fn run_parallel_split<M: Send, T: Send>(
    ing: Ingest,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(M, &mut Vec<T>),
    map_when_queued: usize,
) -> Option<Finished> {
    let source = Source::Decode { ing, record: false };
    let consume = &mut |m: Moving<'_, M>, bin: &mut Vec<T>| consume(m.take(), bin);
    run_parallel_split_from(source, inputs, stop, map, consume, map_when_queued, BATCH).0
}

/// [`run_parallel_on_until_returning`] (`recycle` false) or
/// [`run_parallel_on_until_recycling`] (`recycle` true), with the messages from `source`;
/// also hands back the recording made, if one was asked for and could be made. Each message
/// is lent where it lies ([`Moving`]): a consumer that keeps it moves it once, straight from
/// the batch into its own list.
pub fn run_parallel_from<M: Send, T: Send>(
    source: Source<'_>,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(Moving<'_, M>, &mut Vec<T>),
    recycle: bool,
) -> (Option<Finished>, Option<Recording>) {
    let map_when_queued = if recycle { 0 } else { MAP_WHEN_QUEUED };
    run_parallel_split_from(source, inputs, stop, map, consume, map_when_queued, BATCH)
}

/// [`run_parallel_from`] (not recycling) for a consumer that does almost nothing with each
/// message: batches of [`LIGHT_BATCH`] messages, so that it is woken less often.
pub fn run_parallel_from_light<M: Send, T: Send>(
    source: Source<'_>,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(Moving<'_, M>, &mut Vec<T>),
) -> (Option<Finished>, Option<Recording>) {
    run_parallel_split_from(
        source,
        inputs,
        stop,
        map,
        consume,
        MAP_WHEN_QUEUED,
        LIGHT_BATCH,
    )
}

/// [`run_parallel_split`] with the messages from `source`, in batches of `batch` messages
/// at most.
fn run_parallel_split_from<M: Send, T: Send>(
    source: Source<'_>,
    inputs: &[Input],
    stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    map: &(dyn Fn(Located<'_>) -> M + Sync),
    consume: &mut dyn FnMut(Moving<'_, M>, &mut Vec<T>),
    map_when_queued: usize,
    batch: usize,
) -> (Option<Finished>, Option<Recording>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Parcel<M, T>>(BATCHES_IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Parcel<M, T>>();
    // Batches sent and not yet taken by the consumer (std's channel does not tell).
    let queued = AtomicUsize::new(0);
    // Per input: the consumer is done with every message pointing before here.
    let acked: Vec<AtomicUsize> = inputs.iter().map(|_| AtomicUsize::new(0)).collect();
    let (queued, acked) = (&queued, &acked[..]);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let reached: Vec<std::cell::Cell<usize>> =
                inputs.iter().map(|_| std::cell::Cell::new(0)).collect();
            let mut parcel = Parcel::default();
            let mut mapping = map_when_queued == 0;
            parcel.make_room(mapping, batch);
            let mut consumer_gone = false;
            let send = |parcel: &mut Parcel<M, T>, mapping: &mut bool| {
                let mut next = free_rx.try_recv().unwrap_or_default();
                next.mapped.clear();
                next.raw.clear();
                next.trash.clear();
                let mut full = std::mem::replace(parcel, next);
                full.raw.upto.extend(reached.iter().map(|r| r.get()));
                queued.fetch_add(1, Ordering::Relaxed);
                let gone = tx.send(full).is_err();
                // The next batch: mapped here only when the consumer has enough to do.
                *mapping = queued.load(Ordering::Relaxed) >= map_when_queued;
                parcel.make_room(*mapping, batch);
                gone
            };
            // Where the reader was (over all inputs) when the batch being filled got its first
            // message.
            let mut batch_from = 0usize;
            let mut deliver = |m: Located<'_>| {
                if consumer_gone {
                    return;
                }
                let at = reached
                    .iter()
                    .fold(0usize, |a, r| a.saturating_add(r.get()));
                if parcel.len() == 0 {
                    batch_from = at;
                }
                if mapping {
                    parcel.mapped.push(map(m));
                } else {
                    parcel.raw.add(inputs, &m);
                }
                if parcel.len() >= batch || at.saturating_sub(batch_from) >= BATCH_SPAN {
                    consumer_gone = send(&mut parcel, &mut mapping);
                }
            };
            let release = Release::Acked {
                reached: &reached,
                acked,
            };
            let (result, recording) = match source {
                Source::Decode { ing, record } => {
                    let mut recorder = if record {
                        replay::Recorder::new()
                    } else {
                        None
                    };
                    let result = match recorder.as_mut() {
                        Some(r) => drive_until(
                            ing,
                            inputs,
                            &mut |m: Located<'_>| {
                                r.add(inputs, &m);
                                deliver(m)
                            },
                            stop,
                            release,
                        ),
                        None => drive_until(ing, inputs, &mut deliver, stop, release),
                    };
                    let recording = match (&result, recorder) {
                        (Some((books, _, _)), Some(r)) => r.finish(books.without_media_labels()),
                        _ => None,
                    };
                    (result, recording)
                }
                Source::Replay { ing, recording } => {
                    let result = if ing.media.is_none() {
                        replay_until(recording, inputs, &mut deliver, stop, &reached, acked)
                    } else {
                        Err(0)
                    };
                    let result = match result {
                        Ok(true) => Some((recording.books().clone(), None, None)),
                        Ok(false) => None,
                        // Decoding takes over: the messages already handed out are skipped.
                        Err(mut skip) => drive_until(
                            ing,
                            inputs,
                            &mut |m: Located<'_>| {
                                if skip > 0 {
                                    skip -= 1;
                                } else {
                                    deliver(m)
                                }
                            },
                            stop,
                            release,
                        ),
                    };
                    (result, None)
                }
            };
            if parcel.len() > 0 && !consumer_gone {
                send(&mut parcel, &mut mapping);
            }
            (result, recording)
        });
        for mut parcel in rx {
            queued.fetch_sub(1, Ordering::Relaxed);
            let mut trash = std::mem::take(&mut parcel.trash);
            moving::each(&mut parcel.mapped, |m| consume(m, &mut trash));
            parcel.raw.each(inputs, &mut |m| {
                moving::one(map(*m), |m| consume(m, &mut trash));
            });
            parcel.trash = trash;
            for (a, &upto) in acked.iter().zip(&parcel.raw.upto) {
                a.store(upto, Ordering::Release);
            }
            // The helper thread may have finished: then the parcel is simply dropped.
            let _ = free_tx.send(parcel);
        }
        match producer.join() {
            Ok(r) => r,
            // The helper thread can only fail by a bug that panicked: re-raise it here.
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// Hands every message of `recording` to `emit`, in order, with its bytes read from
/// `inputs`; `stop` is asked after each (with no tracker). Per input, `reached` is set to the
/// position of each message's bytes before it is handed out (messages come in the order of
/// their frames, so later ones lie further on), and mapped bytes before both that and `acked`
/// are handed back to the OS, as [`drive_until`] does. `Ok(true)`: all handed out;
/// `Ok(false)`: stopped; `Err(n)`: a record could not be read after `n` were handed out.
fn replay_until(
    recording: &Recording,
    inputs: &[Input],
    emit: &mut dyn FnMut(Located<'_>),
    stop: &dyn Fn(Option<&MediaTracker>) -> bool,
    reached: &[std::cell::Cell<usize>],
    acked: &[AtomicUsize],
) -> Result<bool, u64> {
    let mut reader = replay::Reader::new(recording).map_err(|_| 0u64)?;
    let mut done = 0u64;
    Pager::run(inputs, |pager| loop {
        let m = match reader.next(inputs) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(true),
            Err(_) => return Err(done),
        };
        let file = usize::from(m.located.frame.file);
        if let (Some(start), Some(r)) = (m.start, reached.get(file)) {
            r.set(r.get().max(start));
            pager.reading(file, start);
        }
        emit(m.located);
        done += 1;
        if let (Some(r), Some(a)) = (reached.get(file), acked.get(file)) {
            pager.done_before(file, a.load(Ordering::Acquire).min(r.get()));
        }
        if stop(None) {
            return Ok(false);
        }
    })
}

/// Where the bytes of a message sent across threads by [`run_parallel_located`] are.
#[derive(Debug, Clone, Copy)]
enum Span {
    /// Inside input `input`'s own bytes (the memory map, for a file): nothing was copied.
    /// Datagrams and TCP messages cut straight out of one segment are found there.
    Input {
        input: usize,
        start: usize,
        len: usize,
    },
    /// Copied into the batch: messages from reassembly or stream buffers, which are reused
    /// once the call that handed them out returns.
    Copied { start: usize, len: usize },
}

/// One message of a [`Batch`], its borrowed parts replaced by positions.
#[derive(Debug, Clone)]
struct Entry {
    flow: net::Flow,
    frame: FrameRef,
    flags: sip::MessageFlags,
    data: Span,
    frames: std::ops::Range<usize>,
}

/// Messages handed from the decoding thread to the consumer in one go. Batches go back to the
/// decoding thread once read and are refilled, so that in a steady state no message costs an
/// allocation (nor a free on the other thread, which mimalloc makes expensive).
#[derive(Debug, Default)]
struct Batch {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    frames: Vec<FrameRef>,
    /// Per input, the byte offset before which every frame was decoded when the batch was
    /// sent: once the batch is read, those bytes are needed by nobody.
    upto: Vec<usize>,
}

/// Where `part` begins inside `whole`, if it lies entirely inside it. Compares addresses only.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start.checked_add(part.len())? <= whole.len()).then_some(start)
}

impl Batch {
    /// Room for a whole batch of messages of one frame each, so that a new batch is not
    /// grown message by message.
    fn make_room(&mut self, batch: usize) {
        self.entries.reserve_exact(batch);
        self.frames.reserve(batch);
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
        self.frames.clear();
        self.upto.clear();
    }

    fn add(&mut self, inputs: &[Input], m: &Located<'_>) {
        let input = usize::from(m.frame.file);
        let data = match inputs.get(input).and_then(|i| offset_in(i.bytes(), m.data)) {
            Some(start) => Span::Input {
                input,
                start,
                len: m.data.len(),
            },
            None => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(m.data);
                Span::Copied {
                    start,
                    len: m.data.len(),
                }
            }
        };
        let first = self.frames.len();
        self.frames.extend_from_slice(m.frames);
        self.entries.push(Entry {
            flow: m.flow,
            frame: m.frame,
            flags: m.flags,
            data,
            frames: first..self.frames.len(),
        });
    }

    fn each(&self, inputs: &[Input], consume: &mut dyn FnMut(&Located<'_>)) {
        for e in &self.entries {
            let data = match e.data {
                Span::Input { input, start, len } => inputs
                    .get(input)
                    .and_then(|i| i.bytes().get(start..start.saturating_add(len))),
                Span::Copied { start, len } => self.bytes.get(start..start.saturating_add(len)),
            };
            consume(&Located {
                flow: e.flow,
                frame: e.frame,
                frames: self.frames.get(e.frames.clone()).unwrap_or(&[]),
                data: data.unwrap_or(&[]),
                flags: e.flags,
            });
        }
    }
}

/// The decoding thread's end of [`run_parallel_located`].
struct BatchSender<'i, 'p> {
    inputs: &'i [Input],
    tx: std::sync::mpsc::SyncSender<Batch>,
    free: std::sync::mpsc::Receiver<Batch>,
    batch: Batch,
    consumer_gone: bool,
    /// Hands back the bytes no batch points into any more.
    pager: &'p mut Pager<'i>,
}

impl BatchSender<'_, '_> {
    fn add(&mut self, m: &Located<'_>, upto: &[usize]) {
        if self.consumer_gone {
            return;
        }
        self.batch.add(self.inputs, m);
        if self.batch.entries.len() >= BATCH {
            self.send(upto);
        }
    }

    fn send(&mut self, upto: &[usize]) {
        if self.batch.entries.is_empty() || self.consumer_gone {
            return;
        }
        let mut next = self.free.try_recv().unwrap_or_default();
        // A batch comes back once read: the bytes before its marks are needed by nobody.
        for (file, &upto) in next.upto.iter().enumerate() {
            self.pager.done_before(file, upto);
        }
        next.clear();
        next.make_room(BATCH);
        let mut full = std::mem::replace(&mut self.batch, next);
        full.upto.extend_from_slice(upto);
        self.consumer_gone = self.tx.send(full).is_err();
    }
}

/// Same as [`run_parallel`] for a consumer that only reads the messages (counting, parsing):
/// it gets borrowed messages on the calling thread, in the same order as [`run_located`]
/// hands them out. Nothing is allocated per message: message bytes that lie in an input's
/// own bytes (most of them) are handed over as positions there, the others are copied into
/// batches that are reused. Capture bytes are handed back to the OS (see [`pager`])
/// once the consumer has read every message that points into them (a read batch comes back
/// with the position the decoding thread had reached when it sent it).
pub fn run_parallel_located(
    inputs: &[Input],
    media: bool,
    consume: &mut dyn FnMut(&Located<'_>),
) -> (Books, Option<MediaTracker>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut ing = if media {
                Ingest::new().with_media()
            } else {
                Ingest::new()
            };
            ing.add_inputs(inputs);
            let mut batch = Batch::default();
            batch.make_room(BATCH);
            Pager::run(inputs, |pager| {
                let mut sender = BatchSender {
                    inputs,
                    tx,
                    free: free_rx,
                    batch,
                    consumer_gone: false,
                    pager,
                };
                let mut upto = vec![0usize; inputs.len()];
                let iters = inputs.iter().map(|i| i.frames()).collect();
                for item in Merged::new(iters) {
                    match item {
                        Ok(frame) => {
                            let file = usize::from(frame.file);
                            let at = usize::try_from(frame.offset).unwrap_or(0);
                            if let Some(u) = upto.get_mut(file) {
                                // Messages pointing into this frame's record may follow; the
                                // bytes before it are done with on this thread.
                                *u = at;
                            }
                            sender.pager.reading(file, at);
                            ing.push_frame_located(&frame, &mut |m: Located<'_>| {
                                sender.add(&m, &upto)
                            });
                        }
                        Err(issue) => ing.issue(issue),
                    }
                }
                let result = ing.finish_all_located(&mut |m: Located<'_>| sender.add(&m, &upto));
                sender.send(&upto);
                result
            })
        });
        for batch in rx {
            batch.each(inputs, consume);
            // The decoding thread may have finished: then the batch is simply dropped.
            let _ = free_tx.send(batch);
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

    /// `n` copies of a sample, as `n` inputs of one run (merged by time).
    fn copies(name: &str, n: u16) -> Vec<Input> {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        (0..n)
            .map(|i| crate::capture::open(&path, i).unwrap())
            .collect()
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
                run_parallel(&inputs, false, &|m| (m.frame, m.data.to_vec()), &mut |x| {
                    par.push(x)
                });
            assert!(!seq.is_empty(), "{name}");
            assert_eq!(seq, par, "{name}");
            assert!(media.is_none());
            assert_eq!(books.frames, pbooks.frames);
            assert_eq!(books.sip_frames, pbooks.sip_frames);
            assert_eq!(books.not_sip, pbooks.not_sip);
        }
        // Many inputs merged: well over one batch of messages.
        let inputs: Vec<Input> = copies("fork-parallel.pcap", 40);
        let mut seq = Vec::new();
        run(&inputs, &mut |m| seq.push(m.frame));
        let mut par = Vec::new();
        run_parallel(&inputs, true, &|m| m.frame, &mut |f| par.push(f));
        assert!(seq.len() > BATCH, "{}", seq.len());
        assert_eq!(seq, par);
    }

    /// The borrowing two-thread pipeline hands over the same messages (bytes, frames, flags),
    /// in the same order, as the owned single-thread one: messages pointing into the capture
    /// (datagrams, whole TCP segments) and copied ones (stream buffers, fragments) alike, over
    /// several batches and merged inputs.
    #[test]
    fn located_parallel_run_matches_the_sequential_one() {
        type Seen = (
            FrameRef,
            Vec<FrameRef>,
            Vec<u8>,
            sip::MessageFlags,
            net::Flow,
        );
        let seen = |m: &Located<'_>| -> Seen {
            (m.frame, m.frames.to_vec(), m.data.to_vec(), m.flags, m.flow)
        };
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/samples", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
                .collect();
        names.sort();
        assert!(names.len() > 3);
        let mut mapped = 0;
        for name in &names {
            let inputs = vec![sample(name)];
            let mut seq: Vec<Seen> = Vec::new();
            let books = run(&inputs, &mut |m| seq.push(seen(&m.located())));
            let mut par: Vec<Seen> = Vec::new();
            let (pbooks, _) = run_parallel_located(&inputs, false, &mut |m| {
                if offset_in(inputs[0].bytes(), m.data).is_some() {
                    mapped += 1;
                }
                par.push(seen(m))
            });
            assert_eq!(seq, par, "{name}");
            assert_eq!(books.frames, pbooks.frames, "{name}");
            assert_eq!(books.sip_frames, pbooks.sip_frames, "{name}");
            assert_eq!(books.not_sip, pbooks.not_sip, "{name}");
            assert_eq!(books.undecoded, pbooks.undecoded, "{name}");
        }
        assert!(mapped > 0, "{mapped}");
        // A hand-made capture whose messages are partly copied: a TCP message split over two
        // segments (joined in the framer's buffer) between whole ones.
        let (input, [m1, m2, m3]) = split_tcp_capture();
        let inputs = vec![input];
        let mut seq_msgs: Vec<Seen> = Vec::new();
        run(&inputs, &mut |m| seq_msgs.push(seen(&m.located())));
        let mut par: Vec<Seen> = Vec::new();
        let mut where_: Vec<bool> = Vec::new();
        run_parallel_located(&inputs, false, &mut |m| {
            where_.push(offset_in(inputs[0].bytes(), m.data).is_some());
            par.push(seen(m))
        });
        assert_eq!(seq_msgs, par);
        assert_eq!(par.len(), 3);
        assert_eq!((&par[0].2, &par[1].2, &par[2].2), (&m1, &m2, &m3));
        assert_eq!(where_, vec![true, false, true]);
        let inputs: Vec<Input> = copies("fork-parallel.pcap", 40);
        let mut seq: Vec<Seen> = Vec::new();
        run(&inputs, &mut |m| seq.push(seen(&m.located())));
        let mut par: Vec<Seen> = Vec::new();
        run_parallel_located(&inputs, true, &mut |m| par.push(seen(m)));
        assert!(seq.len() > BATCH, "{}", seq.len());
        assert_eq!(seq, par);
    }

    /// A hand-made capture of three TCP messages, the middle one split over two segments (so
    /// joined in the framer's buffer, handed over copied), with the three messages' bytes.
    fn split_tcp_capture() -> (Input, [Vec<u8>; 3]) {
        let msg = |n: u32| {
            format!(
                "OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK{n}\r\n\
             Call-ID: c{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            .into_bytes()
        };
        let tcp = |seq: u32, payload: &[u8]| {
            let mut v = vec![0x45, 0];
            v.extend_from_slice(&(40 + payload.len() as u16).to_be_bytes());
            v.extend_from_slice(&[0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            v.extend_from_slice(&40000u16.to_be_bytes());
            v.extend_from_slice(&5060u16.to_be_bytes());
            v.extend_from_slice(&seq.to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            v.extend_from_slice(payload);
            v
        };
        let (m1, m2, m3) = (msg(1), msg(2), msg(3));
        let mut seq = 1000u32;
        let mut pkts = Vec::new();
        for part in [&m1[..], &m2[..20], &m2[20..], &m3[..]] {
            pkts.push((pkts.len() as i64 * 1000, tcp(seq, part)));
            seq += part.len() as u32;
        }
        let bytes = crate::capture::writer::pcap_bytes(crate::capture::linktype::RAW, &pkts);
        (Input::from_bytes("split", 0, bytes).unwrap(), [m1, m2, m3])
    }

    /// Both ways of handing messages over in [`run_parallel_split`] (mapped on the helper
    /// thread, or raw and mapped by the consumer) and their mix give the consumer the same
    /// messages in the same order as the single-thread run, with the same books: every
    /// sample, a message copied out of a stream buffer, and many merged inputs (well over one
    /// batch, with media on).
    #[test]
    fn split_run_matches_the_sequential_one_whoever_maps() {
        type Seen = (
            FrameRef,
            Vec<FrameRef>,
            Vec<u8>,
            sip::MessageFlags,
            net::Flow,
        );
        let seen = |m: &Located<'_>| -> Seen {
            (m.frame, m.frames.to_vec(), m.data.to_vec(), m.flags, m.flow)
        };
        let mut cases: Vec<(String, Vec<Input>, bool)> = Vec::new();
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/samples", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
                .collect();
        names.sort();
        for name in names {
            let inputs = vec![sample(&name)];
            cases.push((name, inputs, false));
        }
        cases.push(("split".into(), vec![split_tcp_capture().0], false));
        let many: Vec<Input> = copies("fork-parallel.pcap", 40);
        cases.push(("many".into(), many, true));
        let consumer = std::thread::current().id();
        // (threshold, whether the helper must map everything, whether the consumer must).
        let modes = [
            (0, true, false),
            (usize::MAX, false, true),
            (1, false, false),
            (MAP_WHEN_QUEUED, false, false),
        ];
        let mut longest = 0;
        for (name, inputs, media) in &cases {
            let mut seq: Vec<Seen> = Vec::new();
            let books = run(inputs, &mut |m| seq.push(seen(&m.located())));
            assert!(!seq.is_empty(), "{name}");
            longest = longest.max(seq.len());
            for (threshold, helper_only, consumer_only) in modes {
                let ing = if *media {
                    Ingest::new().with_media()
                } else {
                    Ingest::new()
                };
                let never = |_: Option<&MediaTracker>| false;
                let mut par: Vec<Seen> = Vec::new();
                let (mut on_helper, mut on_consumer) = (0, 0);
                let (pbooks, tracker, _) = run_parallel_split(
                    ing,
                    inputs,
                    &never,
                    &|m| (seen(&m), std::thread::current().id() == consumer),
                    &mut |(m, here), _: &mut Vec<()>| {
                        if here {
                            on_consumer += 1;
                        } else {
                            on_helper += 1;
                        }
                        par.push(m)
                    },
                    threshold,
                )
                .unwrap();
                assert_eq!(seq, par, "{name} {threshold}");
                assert_eq!(books.frames, pbooks.frames, "{name} {threshold}");
                assert_eq!(books.sip_frames, pbooks.sip_frames, "{name} {threshold}");
                assert_eq!(books.not_sip, pbooks.not_sip, "{name} {threshold}");
                assert_eq!(books.undecoded, pbooks.undecoded, "{name} {threshold}");
                assert_eq!(tracker.is_some(), *media, "{name} {threshold}");
                if helper_only {
                    assert_eq!(on_consumer, 0, "{name} {threshold}");
                }
                if consumer_only {
                    assert_eq!(on_helper, 0, "{name} {threshold}");
                }
            }
        }
        assert!(longest > BATCH * 3, "{longest}");
    }

    /// What the consumer puts in its bin is dropped exactly once, nearly all of it on the
    /// helper thread; every message is mapped there, and comes in order.
    #[test]
    fn recycled_values_are_dropped_on_the_helper_thread() {
        use std::sync::Mutex;
        use std::thread::ThreadId;
        struct Tracked<'a>(&'a Mutex<Vec<ThreadId>>);
        impl Drop for Tracked<'_> {
            fn drop(&mut self) {
                if let Ok(mut v) = self.0.lock() {
                    v.push(std::thread::current().id());
                }
            }
        }
        let inputs: Vec<Input> = copies("fork-parallel.pcap", 400);
        let mut want: Vec<FrameRef> = Vec::new();
        run(&inputs, &mut |m| want.push(m.frame));
        let dropped = Mutex::new(Vec::new());
        let consumer = std::thread::current().id();
        let mut got = Vec::new();
        let mut mapped_here = 0usize;
        run_parallel_on_until_recycling(
            Ingest::new(),
            &inputs,
            &|_| false,
            &|m| (m.frame, std::thread::current().id()),
            &mut |(frame, by), bin| {
                mapped_here += usize::from(by == consumer);
                got.push(frame);
                bin.push(Tracked(&dropped));
            },
        )
        .unwrap();
        assert_eq!(got, want);
        assert_eq!(mapped_here, 0);
        let dropped = dropped.into_inner().unwrap();
        assert_eq!(dropped.len(), want.len());
        let on_helper = dropped.iter().filter(|&&t| t != consumer).count();
        // The bins of the last batches may come back after the helper thread is done.
        let late = BATCH * (BATCHES_IN_FLIGHT + 2);
        assert!(want.len() > late * 2, "{}", want.len());
        assert!(
            on_helper >= want.len() - late,
            "{on_helper} of {}",
            want.len()
        );
    }

    /// Stopping still ends the run with `None` whoever maps, and the consumer gets no message
    /// after the stop was seen on the helper thread (only ones already sent). The input is
    /// several times what the channel holds, so the helper thread cannot be done before the
    /// consumer has seen a message (with 40 copies it sometimes was, on a loaded machine).
    #[test]
    fn split_run_stops_whoever_maps() {
        let inputs: Vec<Input> = copies("fork-parallel.pcap", 400);
        let mut all = 0usize;
        run(&inputs, &mut |_| all += 1);
        for threshold in [0, 1, usize::MAX] {
            let gone = std::sync::atomic::AtomicBool::new(false);
            let stop = |_: Option<&MediaTracker>| gone.load(Ordering::Relaxed);
            let mut got = 0usize;
            let r = run_parallel_split(
                Ingest::new(),
                &inputs,
                &stop,
                &|m| m.frame,
                &mut |_, _: &mut Vec<()>| {
                    got += 1;
                    gone.store(true, Ordering::Relaxed);
                },
                threshold,
            );
            assert!(r.is_none(), "{threshold}");
            assert!(got >= 1 && got < all, "{threshold}: {got} of {all}");
        }
    }

    /// A parcel made room for takes a whole batch, mapped or raw, without growing; a reused
    /// one keeps its room.
    #[test]
    fn a_parcel_with_room_takes_a_batch_without_growing() {
        let (input, _) = split_tcp_capture();
        let inputs = vec![input];
        // What a message holds, owned.
        type Owned = (
            Vec<u8>,
            Vec<FrameRef>,
            net::Flow,
            FrameRef,
            sip::MessageFlags,
        );
        let mut copies: Vec<Owned> = Vec::new();
        run_located(&inputs, &mut |m| {
            copies.push((m.data.to_vec(), m.frames.to_vec(), m.flow, m.frame, m.flags))
        });
        assert!(!copies.is_empty());
        for mapped in [true, false] {
            let mut parcel: Parcel<u64, ()> = Parcel::default();
            for round in 0..2 {
                parcel.make_room(mapped, BATCH);
                let room = (
                    parcel.mapped.capacity(),
                    parcel.raw.entries.capacity(),
                    parcel.raw.frames.capacity(),
                );
                for n in 0..BATCH {
                    if mapped {
                        parcel.mapped.push(n as u64);
                    } else {
                        let (data, frames, flow, frame, flags) = &copies[n % copies.len()];
                        let m = Located {
                            flow: *flow,
                            frame: *frame,
                            frames: &frames[..1],
                            data,
                            flags: *flags,
                        };
                        parcel.raw.add(&inputs, &m);
                    }
                }
                assert_eq!(parcel.len(), BATCH, "{mapped} {round}");
                let after = (
                    parcel.mapped.capacity(),
                    parcel.raw.entries.capacity(),
                    parcel.raw.frames.capacity(),
                );
                assert_eq!(room, after, "{mapped} {round}");
                if mapped {
                    assert_eq!(room.0, BATCH);
                } else {
                    assert_eq!(room.1, BATCH);
                }
                parcel.mapped.clear();
                parcel.raw.clear();
            }
        }
    }

    /// Every case the replay must cover: each sample, each capture of the shared corpus (when
    /// it is there), a TCP message split over two segments (copied, in memory as standard
    /// input is), and forty inputs merged by time (with RTP: `answered-call-rtp.pcap`).
    fn replay_cases() -> Vec<(String, Vec<Input>)> {
        let mut cases: Vec<(String, Vec<Input>)> = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for dir in [
            format!("{}/samples", env!("CARGO_MANIFEST_DIR")),
            crate::testdata::corpus(),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                eprintln!("skipping {dir}: not here");
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.contains(".pcap"))
                .collect();
            names.sort();
            paths.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
        }
        for path in paths {
            if let Ok(input) = crate::capture::open(&path, 0) {
                cases.push((path, vec![input]));
            }
        }
        cases.push(("split".into(), vec![split_tcp_capture().0]));
        cases.push(("many".into(), copies("fork-parallel.pcap", 40)));
        let path = format!(
            "{}/samples/answered-call-rtp.pcap",
            env!("CARGO_MANIFEST_DIR")
        );
        let rtp: Vec<Input> = (0..3)
            .map(|i| crate::capture::open(&path, i).unwrap())
            .collect();
        cases.push(("rtp merged".into(), rtp));
        cases
    }

    type Seen = (
        FrameRef,
        Vec<FrameRef>,
        Vec<u8>,
        sip::MessageFlags,
        net::Flow,
    );

    fn seen(m: &Located<'_>) -> Seen {
        (m.frame, m.frames.to_vec(), m.data.to_vec(), m.flags, m.flow)
    }

    /// Every figure of the books (issues by their text).
    fn books_look(b: &Books) -> String {
        let inputs: Vec<_> = b
            .inputs
            .iter()
            .map(|i| (&i.name, i.frames, i.first_ts_ns, i.last_ts_ns))
            .collect();
        let issues: Vec<String> = b.issues.iter().map(|i| format!("{i:?}")).collect();
        format!(
            "{inputs:?} {} {} {:?} {:?} {} {issues:?} {:?}",
            b.frames, b.sip_frames, b.not_sip, b.undecoded, b.tls_frames, b.undecoded_examples
        )
    }

    /// A pass through `source`, keeping what every message was and the recording made.
    fn pass_from(
        source: Source<'_>,
        inputs: &[Input],
        recycle: bool,
    ) -> (Vec<Seen>, Option<Finished>, Option<Recording>) {
        let never = |_: Option<&MediaTracker>| false;
        let mut got = Vec::new();
        let (finished, recording) = run_parallel_from(
            source,
            inputs,
            &never,
            &|m| seen(&m),
            &mut |m: Moving<'_, Seen>, _: &mut Vec<()>| m.push_into(&mut got),
            recycle,
        );
        (got, finished, recording)
    }

    /// A pass that records hands over what a plain one does, and the replay of its recording
    /// hands over the same messages again (flow, frames, flags, bytes), in the same order,
    /// with the same books, whichever thread maps; with a media tracker (or a watcher) in the
    /// recording pass, the books replayed are those of a pass without one.
    #[test]
    fn replay_hands_over_what_decoding_does() {
        let mut copied = 0usize;
        let mut relabelled = 0usize;
        for (name, inputs) in replay_cases() {
            let mut want: Vec<Seen> = Vec::new();
            let books = run_located(&inputs, &mut |m| want.push(seen(&m)));
            let plain = books_look(&books);
            let recorders = [
                Ingest::new(),
                Ingest::new().with_media(),
                Ingest::new().with_media_tracker(MediaTracker::watcher()),
            ];
            for (r, ing) in recorders.into_iter().enumerate() {
                let source = Source::Decode { ing, record: true };
                let (got, finished, recording) = pass_from(source, &inputs, false);
                assert_eq!(got, want, "{name} {r}");
                let recording = recording.expect("a recording");
                assert_eq!(recording.messages(), want.len() as u64, "{name} {r}");
                let (rbooks, _, _) = finished.unwrap();
                if !rbooks.relabelled.is_empty() {
                    relabelled += 1;
                }
                assert_eq!(books_look(recording.books()), plain, "{name} {r}");
                assert_eq!(
                    books_look(&rbooks.without_media_labels()),
                    plain,
                    "{name} {r}"
                );
                for recycle in [false, true] {
                    let source = Source::Replay {
                        ing: Ingest::new(),
                        recording: &recording,
                    };
                    let (again, finished, none) = pass_from(source, &inputs, recycle);
                    assert_eq!(again, want, "{name} {r} {recycle}");
                    assert!(none.is_none());
                    let (b, media, _) = finished.unwrap();
                    assert_eq!(books_look(&b), plain, "{name} {r} {recycle}");
                    assert!(media.is_none());
                }
            }
            copied += want
                .iter()
                .filter(|m| {
                    inputs
                        .get(usize::from(m.0.file))
                        .is_some_and(|i| !contains(i.bytes(), &m.2))
                })
                .count();
        }
        // Copied messages and frames relabelled by a tracker were among the cases.
        assert!(copied > 0);
        assert!(relabelled > 0);
    }

    /// Larger batches change nothing handed over: a light pass that records gives the same
    /// messages, in the same order, and a recording of them all, as a plain one; the cases
    /// include one of several light batches.
    #[test]
    fn light_batches_hand_over_what_plain_ones_do() {
        let never = |_: Option<&MediaTracker>| false;
        let mut longest = 0;
        let mut cases = replay_cases();
        cases.push(("more".into(), copies("fork-parallel.pcap", 150)));
        for (name, inputs) in cases {
            let mut want: Vec<Seen> = Vec::new();
            run_located(&inputs, &mut |m| want.push(seen(&m)));
            let mut got = Vec::new();
            let source = Source::Decode {
                ing: Ingest::new(),
                record: true,
            };
            let (finished, recording) = run_parallel_from_light(
                source,
                &inputs,
                &never,
                &|m| seen(&m),
                &mut |m: Moving<'_, Seen>, _: &mut Vec<()>| m.push_into(&mut got),
            );
            assert!(finished.is_some(), "{name}");
            assert_eq!(got, want, "{name}");
            let recording = recording.expect("a recording");
            assert_eq!(recording.messages(), want.len() as u64, "{name}");
            longest = longest.max(want.len());
        }
        assert!(longest > LIGHT_BATCH * 2, "{longest}");
    }

    /// Whether `part` occurs in `whole` (a slow search, for tests).
    fn contains(whole: &[u8], part: &[u8]) -> bool {
        part.is_empty() || whole.windows(part.len()).any(|w| w == part)
    }

    /// Where a replay cannot serve, decoding does, and nothing is lost or doubled: a second
    /// pass that needs a media tracker decodes (and gets the tracker); a recording cut short
    /// midway is read as far as it goes, and decoding takes over at the next message; a run
    /// stopped early stays stopped.
    #[test]
    fn replay_falls_back_to_decoding() {
        let record = |inputs: &[Input]| {
            let source = Source::Decode {
                ing: Ingest::new(),
                record: true,
            };
            pass_from(source, inputs, false).2.unwrap()
        };
        // With a tracker: decoded, so RTP is found.
        let inputs = vec![sample("answered-call-rtp.pcap")];
        let mut want: Vec<Seen> = Vec::new();
        run_located(&inputs, &mut |m| want.push(seen(&m)));
        let recording = record(&inputs);
        let source = Source::Replay {
            ing: Ingest::new().with_media(),
            recording: &recording,
        };
        let (got, finished, _) = pass_from(source, &inputs, false);
        assert_eq!(got, want);
        let (_, media, _) = finished.unwrap();
        assert!(media.unwrap().saw_rtp());
        let inputs = copies("fork-parallel.pcap", 40);
        let mut want: Vec<Seen> = Vec::new();
        let books = run_located(&inputs, &mut |m| want.push(seen(&m)));
        assert!(want.len() > BATCH * 2, "{}", want.len());
        let recording = record(&inputs);
        // Cut short at several places (between records and inside one).
        let whole = recording.bytes_written();
        for keep in [0, 1, 100, whole / 2, whole - 1] {
            let cut = recording.cut_copy(keep);
            let source = Source::Replay {
                ing: Ingest::new(),
                recording: &cut,
            };
            for recycle in [false, true] {
                let (got, finished, _) = pass_from(source_again(&source), &inputs, recycle);
                assert_eq!(got, want, "{keep} {recycle}");
                assert_eq!(
                    books_look(&finished.unwrap().0),
                    books_look(&books),
                    "{keep}"
                );
            }
        }
        // Stopped: no books, fewer messages. The helper thread can run ahead of the consumer
        // by the batches in flight (and the one it fills), so the capture must hold more
        // than that for the stop to show, however the two threads are scheduled.
        let inputs = copies("fork-parallel.pcap", 200);
        let mut want: Vec<Seen> = Vec::new();
        run_located(&inputs, &mut |m| want.push(seen(&m)));
        assert!(
            want.len() > (BATCHES_IN_FLIGHT + 2) * BATCH,
            "{}",
            want.len()
        );
        let recording = record(&inputs);
        let gone = std::sync::atomic::AtomicBool::new(false);
        let stop = |_: Option<&MediaTracker>| gone.load(Ordering::Relaxed);
        let mut got = 0usize;
        let (finished, _) = run_parallel_from(
            Source::Replay {
                ing: Ingest::new(),
                recording: &recording,
            },
            &inputs,
            &stop,
            &|m| m.frame,
            &mut |_, _: &mut Vec<()>| {
                got += 1;
                gone.store(true, Ordering::Relaxed);
            },
            true,
        );
        assert!(finished.is_none());
        assert!(got >= 1 && got < want.len(), "{got}");
    }

    /// The same replay source again (sources are used up by a run).
    fn source_again<'r>(s: &Source<'r>) -> Source<'r> {
        match s {
            Source::Replay { recording, .. } => Source::Replay {
                ing: Ingest::new(),
                recording,
            },
            Source::Decode { record, .. } => Source::Decode {
                ing: Ingest::new(),
                record: *record,
            },
        }
    }

    /// A pass stopped early leaves no recording, and one not asked to record makes none.
    #[test]
    fn only_whole_passes_are_recorded() {
        let inputs = vec![sample("answered-call-rtp.pcap")];
        let saw = |t: Option<&MediaTracker>| t.is_some_and(MediaTracker::saw_rtp);
        let (finished, recording) = run_parallel_from(
            Source::Decode {
                ing: Ingest::new().with_media_tracker(MediaTracker::watcher()),
                record: true,
            },
            &inputs,
            &saw,
            &|m| m.frame,
            &mut |_, _: &mut Vec<()>| {},
            false,
        );
        assert!(finished.is_none());
        assert!(recording.is_none());
        let source = Source::Decode {
            ing: Ingest::new(),
            record: false,
        };
        assert!(pass_from(source, &inputs, false).2.is_none());
    }

    #[test]
    fn offset_in_only_inside() {
        let whole = [0u8; 16];
        assert_eq!(offset_in(&whole, &whole[3..9]), Some(3));
        assert_eq!(offset_in(&whole, &whole[16..]), Some(16));
        let other = [0u8; 4];
        let far = offset_in(&whole, &other);
        // Another buffer is never taken for a part of this one (unless it really lies inside,
        // which two distinct arrays cannot).
        assert_eq!(far, None);
        assert_eq!(offset_in(&whole[4..], &whole[..8]), None);
    }
}
