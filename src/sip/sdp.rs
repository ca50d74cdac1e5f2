//! SDP bodies (RFC 8866 / 4566): origin, connection address, media lines, rtpmap/fmtp,
//! direction, rtcp, ptime; and finding the SDP inside a SIP body (plain or multipart).
//!
//! Owns: [`parse_sdp`] and its [`Sdp`] result, [`find_sdp`], the RFC 3551 static payload
//! type table. Like the SIP parser it never fails: lines it cannot read become [`SdpAnomaly`]
//! values and everything else is still returned. Values borrow from the body.
//!
//! ```
//! use sipscope::sip::sdp::{parse_sdp, Direction};
//!
//! let sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
//!                      t=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!                      a=sendonly\r\n");
//! let audio = &sdp.media[0];
//! assert_eq!(audio.port, Some(49170));
//! assert_eq!(audio.effective_direction, Direction::SendOnly);
//! assert_eq!(audio.effective_connection.map(|c| c.address), Some(&b"192.0.2.1"[..]));
//! let names: Vec<_> = audio.codecs().iter().map(|c| c.name).collect();
//! assert_eq!(names, [Some(&b"PCMU"[..]), Some(b"PCMA"), Some(b"telephone-event")]);
//! ```
//!
//! May use: [`super::headers`] (parameter helpers), the SIP line-end search of `super`, memchr.

use smallvec::SmallVec;

use super::headers::{is_lws, leading_u32, param, parse_u64, trim_lws, value_without_params};
use super::{find_byte, find_line_end};

/// Media direction attribute (RFC 3264). Absent means `SendRecv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn from_attr(name: &[u8]) -> Option<Direction> {
        Some(match name {
            b"sendrecv" => Direction::SendRecv,
            b"sendonly" => Direction::SendOnly,
            b"recvonly" => Direction::RecvOnly,
            b"inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The attribute name, as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// A defect of an SDP body. Offsets are byte positions in [`Sdp::raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpAnomaly {
    /// The body does not start with a `v=` line.
    NoVersionFirst,
    /// A line that is not `x=value` (skipped).
    MalformedLine { offset: usize },
    /// An `o=` line without its six fields.
    BadOrigin { offset: usize },
    /// A `c=` line without network type, address type and address.
    BadConnection { offset: usize },
    /// An `m=` line without media, port, proto (kept as far as it goes).
    BadMedia { offset: usize },
    /// An `a=rtpmap` that is not `PT name/rate[/channels]` (ignored).
    BadRtpmap { offset: usize },
    /// A media section with no `c=` of its own and none at session level (index in `media`).
    NoConnection { media: usize },
    /// A dynamic payload type (96-127 or unassigned) with no rtpmap (index in `media`).
    UnknownPayloadType { media: usize, payload_type: u8 },
}

/// The `o=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub username: &'a [u8],
    pub session_id: &'a [u8],
    pub session_version: &'a [u8],
    pub net_type: &'a [u8],
    pub addr_type: &'a [u8],
    pub address: &'a [u8],
}

/// A `c=` line: `IN IP4 192.0.2.1` (multicast `/ttl/count` suffixes removed from `address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    pub net_type: &'a [u8],
    /// `IP4` or `IP6`.
    pub addr_type: &'a [u8],
    pub address: &'a [u8],
}

impl Connection<'_> {
    /// Whether the address is 0.0.0.0 or `::`: the RFC 2543 way of putting a call on hold, or
    /// an endpoint that does not know its address yet.
    pub fn is_unspecified(&self) -> bool {
        matches!(self.address, b"0.0.0.0" | b"::" | b"0:0:0:0:0:0:0:0")
    }
}

/// An `a=` line: `a=name` or `a=name:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// An `a=rtpmap:PT name/rate[/channels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    pub payload_type: u8,
    pub name: &'a [u8],
    pub clock_rate: Option<u32>,
    pub channels: Option<u32>,
}

/// One format of a media line, resolved: from its rtpmap, else from the static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec<'a> {
    /// The RTP payload type; `None` for non-numeric formats (`t38` on `udptl`, `*`).
    pub payload_type: Option<u8>,
    /// Encoding name (`PCMU`, `opus`, `telephone-event`), or the format itself when it is not
    /// a number; `None` for a dynamic payload type without rtpmap.
    pub name: Option<&'a [u8]>,
    pub clock_rate: Option<u32>,
    pub channels: Option<u32>,
    /// The `a=fmtp` parameters for this payload type.
    pub fmtp: Option<&'a [u8]>,
    /// Resolved from the RFC 3551 static table rather than an rtpmap line.
    pub from_static_table: bool,
}

/// An `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media<'a> {
    /// `audio`, `video`, `image`, `application`, ...
    pub kind: &'a [u8],
    /// `None` if not a number. Port 0 means the stream is rejected or disabled.
    pub port: Option<u16>,
    /// The `/count` after the port, if any.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...
    pub proto: &'a [u8],
    /// The format list as written (space-separated); see [`Media::formats`].
    pub formats: &'a [u8],
    /// This section's own `c=`.
    pub connection: Option<Connection<'a>>,
    /// The connection in force: own `c=`, else the session one.
    pub effective_connection: Option<Connection<'a>>,
    /// This section's own direction attribute.
    pub direction: Option<Direction>,
    /// The direction in force: own, else session level, else `SendRecv`.
    pub effective_direction: Direction,
    /// Every `a=` line of this section, in order.
    pub attributes: Vec<Attribute<'a>>,
    /// The readable `a=rtpmap` lines of `attributes`, in order: read once while parsing (the
    /// parser reads them anyway to report broken ones) instead of again for every use.
    rtpmaps: Vec<RtpMap<'a>>,
}

impl<'a> Media<'a> {
    /// The formats (payload types for RTP), in preference order.
    pub fn formats(&self) -> impl Iterator<Item = &'a [u8]> {
        self.formats
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty())
    }

    /// First attribute called `name` (case-sensitive, as SDP attribute names are).
    pub fn attribute(&self, name: &str) -> Option<Attribute<'a>> {
        self.attributes
            .iter()
            .find(|a| a.name == name.as_bytes())
            .copied()
    }

    /// The rtpmap of a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap<'a>> {
        self.rtpmaps
            .iter()
            .find(|r| r.payload_type == payload_type)
            .copied()
    }

    /// The fmtp parameters of a payload type (`0-16`, `mode=30`, ...).
    pub fn fmtp(&self, payload_type: u8) -> Option<&'a [u8]> {
        self.attributes
            .iter()
            .filter(|a| a.name == b"fmtp")
            .filter_map(|a| a.value)
            .find_map(|v| {
                let (pt, rest) = split_first_token(v);
                (parse_u64(pt) == Some(u64::from(payload_type))).then_some(rest)
            })
    }

    /// The `a=rtcp` value (port, optionally with address).
    pub fn rtcp(&self) -> Option<&'a [u8]> {
        self.attribute("rtcp").and_then(|a| a.value)
    }

    /// The `a=ptime` value in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .and_then(|a| a.value)
            .and_then(leading_u32)
    }

    /// Whether the port is 0 (stream rejected in an answer, or disabled).
    pub fn is_disabled(&self) -> bool {
        self.port == Some(0)
    }

    /// Every format resolved to a codec, in preference order.
    pub fn codecs(&self) -> Vec<Codec<'a>> {
        // Every fmtp is read once here rather than once per format; the first line for a
        // payload type wins, as in `fmtp`. The rtpmap lines were read by the parser.
        let fmtps: Vec<(Option<u64>, &'a [u8])> = self
            .attributes
            .iter()
            .filter(|a| a.name == b"fmtp")
            .filter_map(|a| a.value)
            .map(|v| {
                let (pt, rest) = split_first_token(v);
                (parse_u64(pt), rest)
            })
            .collect();
        self.formats()
            .map(|f| {
                let mut codec = self.resolve(f);
                if let Some(pt) = codec.payload_type {
                    codec.fmtp = fmtps
                        .iter()
                        .find(|(n, _)| *n == Some(u64::from(pt)))
                        .map(|&(_, rest)| rest);
                }
                codec
            })
            .collect()
    }

    /// [`Media::codecs`] without the fmtp parameters (`fmtp` is always `None`), and without
    /// building a list: for callers that only name the codecs.
    pub fn codec_names(&self) -> impl Iterator<Item = Codec<'a>> + '_ {
        self.formats().map(|f| self.resolve(f))
    }

    /// One format resolved to a codec (rtpmap first, then the static table), fmtp left out.
    fn resolve(&self, f: &'a [u8]) -> Codec<'a> {
        resolve(f, &self.rtpmaps)
    }
}

/// A format of a media section resolved to a codec: the section's first rtpmap for its
/// payload type, else the static table; fmtp left out.
fn resolve<'a>(f: &'a [u8], rtpmaps: &[RtpMap<'a>]) -> Codec<'a> {
    let pt = parse_u64(f).and_then(|n| u8::try_from(n).ok());
    let Some(pt) = pt else {
        return Codec {
            payload_type: None,
            name: Some(f),
            clock_rate: None,
            channels: None,
            fmtp: None,
            from_static_table: false,
        };
    };
    if let Some(map) = rtpmaps.iter().find(|r| r.payload_type == pt) {
        return Codec {
            payload_type: Some(pt),
            name: Some(map.name),
            clock_rate: map.clock_rate,
            channels: map.channels,
            fmtp: None,
            from_static_table: false,
        };
    }
    match static_payload_type(pt) {
        Some((name, rate, channels)) => Codec {
            payload_type: Some(pt),
            name: Some(name.as_bytes()),
            clock_rate: Some(rate),
            channels: Some(channels),
            fmtp: None,
            from_static_table: true,
        },
        None => Codec {
            payload_type: Some(pt),
            name: None,
            clock_rate: None,
            channels: None,
            fmtp: None,
            from_static_table: false,
        },
    }
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    /// The body as given.
    pub raw: &'a [u8],
    /// The `v=` value (`0`).
    pub version: Option<&'a [u8]>,
    pub origin: Option<Origin<'a>>,
    /// The `s=` value.
    pub session_name: Option<&'a [u8]>,
    /// The session-level `c=`.
    pub connection: Option<Connection<'a>>,
    /// The session-level direction attribute.
    pub direction: Option<Direction>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute<'a>>,
    pub media: Vec<Media<'a>>,
    pub anomalies: Vec<SdpAnomaly>,
}

/// RFC 3551 static payload types: (name, clock rate, channels).
pub fn static_payload_type(pt: u8) -> Option<(&'static str, u32, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    })
}

/// First space-separated token and the trimmed rest.
fn split_first_token(s: &[u8]) -> (&[u8], &[u8]) {
    let s = trim_lws(s);
    match s.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => {
            // `s` ends in a non-blank byte after the blank at `i`: only the rest's start
            // needs trimming.
            let rest = s.get(i..).unwrap_or(&[]);
            let start = rest.iter().position(|&b| !is_lws(b)).unwrap_or(rest.len());
            (s.get(..i).unwrap_or(&[]), rest.get(start..).unwrap_or(&[]))
        }
        None => (s, &[]),
    }
}

/// Exactly `N` space-separated fields (extra text goes into the last one); `None` if fewer.
fn fields<const N: usize>(s: &[u8]) -> Option<[&[u8]; N]> {
    let mut out = [&[][..]; N];
    let mut rest = trim_lws(s);
    for (i, slot) in out.iter_mut().enumerate() {
        if rest.is_empty() {
            return None;
        }
        if i + 1 == N {
            *slot = rest;
        } else {
            let (tok, r) = split_first_token(rest);
            *slot = tok;
            rest = r;
        }
    }
    Some(out)
}

fn parse_rtpmap(value: &[u8]) -> Option<RtpMap<'_>> {
    let (pt, enc) = split_first_token(value);
    let payload_type = u8::try_from(parse_u64(pt)?).ok()?;
    let mut parts = enc.split(|&b| b == b'/');
    let name = trim_lws(parts.next()?);
    if name.is_empty() {
        return None;
    }
    let clock_rate = parts.next().and_then(leading_u32);
    let channels = parts.next().and_then(leading_u32);
    Some(RtpMap {
        payload_type,
        name,
        clock_rate,
        channels,
    })
}

fn parse_connection(value: &[u8]) -> Option<Connection<'_>> {
    // The usual writing, `IN IP4 address` with single spaces and nothing to trim, needs no
    // split into fields: the general reading below finds the same three.
    if let (Some((net_type, rest)), Some(&last)) = (value.split_at_checked(2), value.last()) {
        if let (b"IN", [b' ', b'I', b'P', b'4' | b'6', b' ', first, ..]) = (net_type, rest) {
            if !is_lws(*first) && !is_lws(last) {
                let addr_type = rest.get(1..4).unwrap_or(&[]);
                return connection(net_type, addr_type, rest.get(5..).unwrap_or(&[]));
            }
        }
    }
    spaced_connection(value)
}

/// [`parse_connection`] for any writing.
fn spaced_connection(value: &[u8]) -> Option<Connection<'_>> {
    let [net_type, addr_type, address] = fields::<3>(value)?;
    connection(net_type, addr_type, address)
}

/// A connection of these fields: the address without a multicast `/ttl/count`.
fn connection<'a>(
    net_type: &'a [u8],
    addr_type: &'a [u8],
    address: &'a [u8],
) -> Option<Connection<'a>> {
    // A few bytes: a byte loop is cheaper than memchr's set-up.
    let address = match address.iter().position(|&b| b == b'/') {
        Some(i) => address.get(..i).unwrap_or(&[]),
        None => address,
    };
    let address = trim_lws(address);
    if address.is_empty() {
        return None;
    }
    Some(Connection {
        net_type,
        addr_type,
        address,
    })
}

fn parse_port(s: &[u8]) -> (Option<u16>, Option<u16>) {
    let (port, count) = split_at_slash(s);
    let to_u16 = |p: &[u8]| parse_u64(p).and_then(|n| u16::try_from(n).ok());
    (to_u16(port), count.and_then(to_u16))
}

/// Parses an SDP body. Never fails; see [`Sdp::anomalies`].
pub fn parse_sdp(raw: &[u8]) -> Sdp<'_> {
    parse_sdp_with(raw, true)
}

/// The `x=value` lines of `raw` as (key, value), trimmed, for the media readings; other lines
/// are skipped (the anomaly is not part of those readings).
fn value_lines(raw: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            // SDP lines are short: the search made for header lines suits them.
            let (line, next) = match find_line_end(rest) {
                Some(i) => (
                    rest.get(..i).unwrap_or(&[]),
                    rest.get(i + 1..).unwrap_or(&[]),
                ),
                None => (rest, &[][..]),
            };
            rest = next;
            // Most lines end in CR: taking it off first lets the trim see nothing to do.
            let line = trim_lws(line.strip_suffix(b"\r").unwrap_or(line));
            if let [key, b'=', value @ ..] = line {
                return Some((*key, value));
            }
        }
        None
    })
}

/// [`parse_sdp`] reduced to what a media summary reads, for every message of a capture:
/// the version, session name, connections, the media lines with their rtpmaps, and the
/// directions are the same; `origin`, the `attributes` lists and `anomalies` are left empty.
/// One walk over the lines that looks only at `v=`, `s=`, `c=`, `m=` and the rtpmap and
/// direction attributes (the tests hold it to the general parser's reading).
pub fn parse_sdp_media(raw: &[u8]) -> Sdp<'_> {
    let mut sdp = Sdp::empty(raw);
    for (key, value) in value_lines(raw) {
        match key {
            b'a' => media_attribute(&mut sdp, value),
            b'm' => sdp.media.push(media_line(value)),
            b'c' => {
                if let Some(c) = parse_connection(value) {
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
            }
            b'v' => sdp.version = Some(value),
            b's' if sdp.media.is_empty() => sdp.session_name = Some(value),
            _ => {}
        }
    }
    let session_connection = sdp.connection;
    let session_direction = sdp.direction.unwrap_or_default();
    for m in &mut sdp.media {
        m.effective_connection = m.connection.or(session_connection);
        m.effective_direction = m.direction.unwrap_or(session_direction);
    }
    sdp
}

/// An `a=` value for [`parse_sdp_media`]: an rtpmap of a media section, or a direction.
fn media_attribute<'a>(sdp: &mut Sdp<'a>, value: &'a [u8]) {
    if let Some(map) = value.strip_prefix(b"rtpmap:") {
        // A session-level rtpmap applies to nothing.
        if let Some(m) = sdp.media.last_mut() {
            m.rtpmaps.extend(read_rtpmap(map));
        }
        return;
    }
    let direction = direction_attribute(value);
    if direction.is_some() {
        match sdp.media.last_mut() {
            Some(m) => m.direction = direction,
            None => sdp.direction = direction,
        }
    }
}

/// The direction an `a=` value names, if it is one.
fn direction_attribute(value: &[u8]) -> Option<Direction> {
    // The attribute name runs to the first ':'; a direction's name has 8 letters.
    match value.get(8) {
        None | Some(b':') => value.get(..8).and_then(Direction::from_attr),
        Some(_) => None,
    }
}

/// A media section as [`read_media`] hands it over once its last line is read: what
/// [`parse_sdp_media`] gives of it, its rtpmaps kept only for naming its codecs.
#[derive(Debug)]
pub struct MediaSection<'a, 'r> {
    pub kind: &'a [u8],
    pub port: Option<u16>,
    pub port_count: Option<u16>,
    pub proto: &'a [u8],
    pub formats: &'a [u8],
    /// Own `c=`, else the session one.
    pub effective_connection: Option<Connection<'a>>,
    /// Own direction, else the session one, else `SendRecv`.
    pub effective_direction: Direction,
    rtpmaps: &'r [RtpMap<'a>],
}

impl<'a> MediaSection<'a, '_> {
    /// As [`Media::codec_names`]: every format resolved, fmtp left out.
    pub fn codec_names(&self) -> impl Iterator<Item = Codec<'a>> + '_ {
        self.formats
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty())
            .map(|f| resolve(f, self.rtpmaps))
    }
}

/// [`parse_sdp_media`] without building its result: the same walk hands each media section
/// to `section` as soon as it ends (the session-level `c=` and direction are settled by the
/// first `m=`), its rtpmaps held in a buffer on the stack reused from one section to the next.
/// Returns the session-level connection. For a caller that turns the sections into its own
/// values: no list of media or rtpmaps is allocated.
pub fn read_media<'a>(
    raw: &'a [u8],
    mut section: impl FnMut(&MediaSection<'a, '_>),
) -> Option<Connection<'a>> {
    let mut session_connection = None;
    let mut session_direction = None;
    let mut open: Option<OpenSection<'a>> = None;
    let mut rtpmaps = SmallVec::<[RtpMap<'a>; 16]>::new();
    for (key, value) in value_lines(raw) {
        match key {
            b'a' => {
                if let Some(map) = value.strip_prefix(b"rtpmap:") {
                    if let (Some(_), Some(map)) = (&open, read_rtpmap(map)) {
                        rtpmaps.push(map);
                    }
                } else if let Some(d) = direction_attribute(value) {
                    match &mut open {
                        Some(m) => m.direction = Some(d),
                        None => session_direction = Some(d),
                    }
                }
            }
            b'm' => {
                if let Some(m) = open.take() {
                    section(&close(m, session_connection, session_direction, &rtpmaps));
                }
                rtpmaps.clear();
                let (kind, rest) = split_first_token(value);
                let (port, rest) = split_first_token(rest);
                let (proto, formats) = split_first_token(rest);
                let (port, port_count) = parse_port(port);
                open = Some(OpenSection {
                    kind,
                    port,
                    port_count,
                    proto,
                    formats,
                    connection: None,
                    direction: None,
                });
            }
            b'c' => {
                if let Some(c) = parse_connection(value) {
                    match &mut open {
                        Some(m) => m.connection = Some(c),
                        None => session_connection = Some(c),
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(m) = open {
        section(&close(m, session_connection, session_direction, &rtpmaps));
    }
    session_connection
}

/// The section [`read_media`] is in: its `m=` line as [`media_line`] reads it, and its own
/// `c=` and direction so far.
struct OpenSection<'a> {
    kind: &'a [u8],
    port: Option<u16>,
    port_count: Option<u16>,
    proto: &'a [u8],
    formats: &'a [u8],
    connection: Option<Connection<'a>>,
    direction: Option<Direction>,
}

/// An ended section of [`read_media`], with what is in force for it.
fn close<'a, 'r>(
    m: OpenSection<'a>,
    session_connection: Option<Connection<'a>>,
    session_direction: Option<Direction>,
    rtpmaps: &'r [RtpMap<'a>],
) -> MediaSection<'a, 'r> {
    MediaSection {
        kind: m.kind,
        port: m.port,
        port_count: m.port_count,
        proto: m.proto,
        formats: m.formats,
        effective_connection: m.connection.or(session_connection),
        effective_direction: m.direction.or(session_direction).unwrap_or_default(),
        rtpmaps,
    }
}

/// [`parse_rtpmap`] for [`parse_sdp_media`], without its split iterator and second walks:
/// `PT name/rate[/channels]`, the rate and channels read as their leading digits.
fn read_rtpmap(value: &[u8]) -> Option<RtpMap<'_>> {
    plain_rtpmap(value).or_else(|| spaced_rtpmap(value))
}

/// An rtpmap written the usual way, `PT name/rate[/channels]` with one space and nothing
/// else (at most 3 digits in the payload type, 9 in the numbers), read in one walk; `None`
/// for any other writing, which [`spaced_rtpmap`] then reads. On the usual writing both read
/// the same: no blank to trim, every number all digits and small enough for a `u32`.
fn plain_rtpmap(value: &[u8]) -> Option<RtpMap<'_>> {
    let (pt, rest) = plain_number(value, 3)?;
    let rest = rest.strip_prefix(b" ")?;
    // Blanks inside the name are kept (the general reading trims only its ends).
    let slash = find_byte(b'/', rest)?;
    let (name, numbers) = rest.split_at_checked(slash)?;
    let numbers = numbers.strip_prefix(b"/")?;
    match (name.first(), name.last()) {
        (Some(&a), Some(&b)) if !is_lws(a) && !is_lws(b) => {}
        _ => return None,
    }
    let (clock_rate, rest) = plain_number(numbers, 9)?;
    let channels = match rest {
        [] => None,
        [b'/', channels @ ..] => match plain_number(channels, 9)? {
            (n, []) => Some(n),
            _ => return None,
        },
        _ => return None,
    };
    Some(RtpMap {
        payload_type: u8::try_from(pt).ok()?,
        name,
        clock_rate: Some(clock_rate),
        channels,
    })
}

/// The 1 to `max` digits `s` starts with, as a number, and what follows them.
fn plain_number(s: &[u8], max: usize) -> Option<(u32, &[u8])> {
    let len = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if len == 0 || len > max {
        return None;
    }
    let (digits, rest) = s.split_at_checked(len)?;
    let n = digits
        .iter()
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    Some((n, rest))
}

/// [`read_rtpmap`] for any writing: blanks around the parts, numbers followed by other text.
fn spaced_rtpmap(value: &[u8]) -> Option<RtpMap<'_>> {
    let (pt, enc) = split_first_token(value);
    let payload_type = u8::try_from(parse_u64(pt)?).ok()?;
    let (name, numbers) = split_at_slash(enc);
    let name = trim_lws(name);
    if name.is_empty() {
        return None;
    }
    let (clock_rate, channels) = match numbers {
        Some(numbers) => {
            let (rate, channels) = split_at_slash(numbers);
            (leading_digits(rate), channels.and_then(leading_digits))
        }
        None => (None, None),
    };
    Some(RtpMap {
        payload_type,
        name,
        clock_rate,
        channels,
    })
}

/// The text before the first '/' and, if there is one, the text after it.
fn split_at_slash(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b'/') {
        Some(i) => (s.get(..i).unwrap_or(&[]), s.get(i + 1..)),
        None => (s, None),
    }
}

/// The number the digits after any leading blanks spell, as [`leading_u32`] reads it (no
/// digit, or more than a `u32` holds, is `None`), in one walk.
fn leading_digits(s: &[u8]) -> Option<u32> {
    let start = s.iter().position(|&b| !is_lws(b))?;
    let mut n: u64 = 0;
    let mut digits = 0usize;
    for &b in s.get(start..)? {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    u32::try_from(n).ok()
}

/// An `m=` line's media section, for [`parse_sdp_media`] (no attribute list).
fn media_line(value: &[u8]) -> Media<'_> {
    let (kind, rest) = split_first_token(value);
    let (port, rest) = split_first_token(rest);
    let (proto, formats) = split_first_token(rest);
    let (port, port_count) = parse_port(port);
    Media {
        kind,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        effective_connection: None,
        direction: None,
        effective_direction: Direction::SendRecv,
        attributes: Vec::new(),
        rtpmaps: Vec::new(),
    }
}

impl<'a> Sdp<'a> {
    /// A body of `raw` with nothing read yet: where both readers start.
    fn empty(raw: &'a [u8]) -> Sdp<'a> {
        Sdp {
            raw,
            version: None,
            origin: None,
            session_name: None,
            connection: None,
            direction: None,
            attributes: Vec::new(),
            media: Vec::new(),
            anomalies: Vec::new(),
        }
    }
}

/// The parser of [`parse_sdp`]. `full` false is the media reading [`parse_sdp_media`] had
/// before its own walk: kept as the reference its tests compare with.
fn parse_sdp_with(raw: &[u8], full: bool) -> Sdp<'_> {
    let mut sdp = Sdp::empty(raw);
    let mut pos = 0usize;
    let mut first = true;
    while pos < raw.len() {
        let rest = raw.get(pos..).unwrap_or(&[]);
        let (line_len, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (i, pos + i + 1),
            None => (rest.len(), raw.len()),
        };
        let offset = pos;
        pos = next;
        let line = trim_lws(rest.get(..line_len).unwrap_or(&[]));
        if line.is_empty() {
            continue;
        }
        let (key, value) = match line {
            [k, b'=', v @ ..] if k.is_ascii_alphabetic() => (*k, v),
            _ => {
                sdp.anomalies.push(SdpAnomaly::MalformedLine { offset });
                continue;
            }
        };
        if full && first && key != b'v' {
            sdp.anomalies.push(SdpAnomaly::NoVersionFirst);
        }
        first = false;
        let in_media = !sdp.media.is_empty();
        match key {
            b'v' => sdp.version = Some(value),
            b'o' if !full => {}
            b'o' => match fields::<6>(value) {
                Some([username, session_id, session_version, net_type, addr_type, address]) => {
                    sdp.origin = Some(Origin {
                        username,
                        session_id,
                        session_version,
                        net_type,
                        addr_type,
                        address,
                    })
                }
                None => sdp.anomalies.push(SdpAnomaly::BadOrigin { offset }),
            },
            b's' if !in_media => sdp.session_name = Some(value),
            b'c' => match parse_connection(value) {
                Some(c) => match sdp.media.last_mut() {
                    Some(m) => m.connection = Some(c),
                    None => sdp.connection = Some(c),
                },
                None => sdp.anomalies.push(SdpAnomaly::BadConnection { offset }),
            },
            b'm' => {
                let (kind, rest) = split_first_token(value);
                let (port, rest) = split_first_token(rest);
                let (proto, formats) = split_first_token(rest);
                let (port, port_count) = parse_port(port);
                if kind.is_empty() || port.is_none() || proto.is_empty() {
                    sdp.anomalies.push(SdpAnomaly::BadMedia { offset });
                }
                sdp.media.push(Media {
                    kind,
                    port,
                    port_count,
                    proto,
                    formats,
                    connection: None,
                    effective_connection: None,
                    direction: None,
                    effective_direction: Direction::SendRecv,
                    // A media section nearly always has attributes (rtpmap, fmtp, ptime,
                    // direction): one allocation for the usual count instead of two growths.
                    attributes: if full {
                        Vec::with_capacity(8)
                    } else {
                        Vec::new()
                    },
                    rtpmaps: Vec::new(),
                });
            }
            b'a' => {
                let attr = match memchr::memchr(b':', value) {
                    Some(i) => Attribute {
                        name: value.get(..i).unwrap_or(&[]),
                        value: Some(value.get(i + 1..).unwrap_or(&[])),
                    },
                    None => Attribute {
                        name: value,
                        value: None,
                    },
                };
                let rtpmap = if attr.name == b"rtpmap" {
                    let map = attr.value.and_then(parse_rtpmap);
                    if map.is_none() {
                        sdp.anomalies.push(SdpAnomaly::BadRtpmap { offset });
                    }
                    map
                } else {
                    None
                };
                let direction = Direction::from_attr(attr.name);
                match sdp.media.last_mut() {
                    Some(m) => {
                        if full {
                            m.attributes.push(attr);
                        }
                        m.rtpmaps.extend(rtpmap);
                        if direction.is_some() {
                            m.direction = direction;
                        }
                    }
                    None => {
                        if full {
                            sdp.attributes.push(attr);
                        }
                        if direction.is_some() {
                            sdp.direction = direction;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if full && first && !raw.is_empty() {
        sdp.anomalies.push(SdpAnomaly::NoVersionFirst);
    }
    if !full {
        // The few noted on the way (broken lines) are not part of this reading.
        sdp.anomalies.clear();
    }
    let session_connection = sdp.connection;
    let session_direction = sdp.direction.unwrap_or_default();
    for (i, m) in sdp.media.iter_mut().enumerate() {
        m.effective_connection = m.connection.or(session_connection);
        m.effective_direction = m.direction.unwrap_or(session_direction);
        if !full {
            continue;
        }
        if m.effective_connection.is_none() {
            sdp.anomalies.push(SdpAnomaly::NoConnection { media: i });
        }
        for c in m.codec_names() {
            if let (Some(pt), None) = (c.payload_type, c.name) {
                sdp.anomalies.push(SdpAnomaly::UnknownPayloadType {
                    media: i,
                    payload_type: pt,
                });
            }
        }
    }
    sdp
}

/// Finds the SDP in a SIP body: the whole body when Content-Type is `application/sdp` (or
/// absent and the body starts with `v=0`), or the first `application/sdp` part of a
/// `multipart/*` body. `None` when there is none.
pub fn find_sdp<'a>(content_type: Option<&[u8]>, body: &'a [u8]) -> Option<&'a [u8]> {
    let Some(ct) = content_type else {
        return trim_lws(body).starts_with(b"v=0").then_some(body);
    };
    let essence = value_without_params(ct);
    if essence.eq_ignore_ascii_case(b"application/sdp") {
        return Some(body);
    }
    if essence.len() >= 10 && essence.get(..10)?.eq_ignore_ascii_case(b"multipart/") {
        let boundary = param(ct, "boundary")?;
        return multipart_sdp(boundary, body);
    }
    None
}

/// The first `application/sdp` part of a multipart body (RFC 2046 section 5.1).
fn multipart_sdp<'a>(boundary: &[u8], body: &'a [u8]) -> Option<&'a [u8]> {
    if boundary.is_empty() {
        return None;
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delimiter);
    let starts: Vec<usize> = finder.find_iter(body).collect();
    for pair in starts.windows(2) {
        let &[a, b] = pair else { continue };
        let part = body.get(a + delimiter.len()..b)?;
        // Skip the rest of the delimiter line.
        let part = match memchr::memchr(b'\n', part) {
            Some(i) => part.get(i + 1..)?,
            None => continue,
        };
        // The line break before the next delimiter belongs to the delimiter.
        let part = part.strip_suffix(b"\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r").unwrap_or(part);
        let (headers, content) = split_part(part);
        let is_sdp = headers
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let colon = memchr::memchr(b':', line)?;
                let name = trim_lws(line.get(..colon)?);
                (name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"c"))
                    .then(|| value_without_params(line.get(colon + 1..).unwrap_or(&[])))
            })
            .any(|v| v.eq_ignore_ascii_case(b"application/sdp"));
        if is_sdp {
            return Some(content);
        }
    }
    None
}

/// Part headers and content, split at the first blank line (CRLF or LF).
fn split_part(part: &[u8]) -> (&[u8], &[u8]) {
    let mut pos = 0;
    while pos <= part.len() {
        let rest = part.get(pos..).unwrap_or(&[]);
        let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = rest.get(..line_end).unwrap_or(&[]);
        if line.is_empty() || line == b"\r" {
            let after = (pos + line_end + 1).min(part.len());
            return (
                part.get(..pos).unwrap_or(&[]),
                part.get(after..).unwrap_or(&[]),
            );
        }
        pos += line_end + 1;
    }
    (part, &[])
}

#[cfg(test)]
mod tests {
    use super::test_bodies::capture_sdp_windows;
    use super::*;

    const OFFER: &[u8] = b"v=0\r\n\
o=root 555055307 555055308 IN IP4 172.16.98.1\r\n\
s=Asterisk PBX 11.7.0~dfsg-1ubuntu1\r\n\
c=IN IP4 172.16.98.1\r\n\
t=0 0\r\n\
m=audio 8000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

    #[test]
    fn real_offer() {
        let sdp = parse_sdp(OFFER);
        assert!(sdp.anomalies.is_empty(), "{:?}", sdp.anomalies);
        assert_eq!(sdp.version, Some(&b"0"[..]));
        let o = sdp.origin.unwrap();
        assert_eq!(o.session_version, b"555055308");
        assert_eq!(o.address, b"172.16.98.1");
        assert_eq!(
            sdp.session_name,
            Some(&b"Asterisk PBX 11.7.0~dfsg-1ubuntu1"[..])
        );
        assert_eq!(sdp.media.len(), 1);
        let m = &sdp.media[0];
        assert_eq!(m.kind, b"audio");
        assert_eq!(m.port, Some(8000));
        assert_eq!(m.proto, b"RTP/AVP");
        assert_eq!(m.formats().collect::<Vec<_>>(), vec![&b"0"[..], b"101"]);
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.direction, Some(Direction::SendRecv));
        assert_eq!(m.fmtp(101), Some(&b"0-16"[..]));
        let codecs = m.codecs();
        assert_eq!(codecs[0].name, Some(&b"PCMU"[..]));
        assert!(!codecs[0].from_static_table);
        assert_eq!(codecs[1].name, Some(&b"telephone-event"[..]));
        assert_eq!(codecs[1].clock_rate, Some(8000));
        assert_eq!(codecs[1].fmtp, Some(&b"0-16"[..]));
        assert_eq!(m.effective_connection.unwrap().address, b"172.16.98.1");
        assert!(m.connection.is_none());
    }

    #[test]
    fn static_payload_types_without_rtpmap() {
        let sdp = parse_sdp(b"v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0 3 4 8 9 18 13\n");
        let names: Vec<_> = sdp.media[0]
            .codecs()
            .iter()
            .map(|c| (c.payload_type, c.name, c.from_static_table))
            .collect();
        assert_eq!(
            names,
            vec![
                (Some(0), Some(&b"PCMU"[..]), true),
                (Some(3), Some(&b"GSM"[..]), true),
                (Some(4), Some(&b"G723"[..]), true),
                (Some(8), Some(&b"PCMA"[..]), true),
                (Some(9), Some(&b"G722"[..]), true),
                (Some(18), Some(&b"G729"[..]), true),
                (Some(13), Some(&b"CN"[..]), true),
            ]
        );
        assert!(sdp.anomalies.is_empty(), "{:?}", sdp.anomalies);
    }

    #[test]
    fn rtpmap_channels_and_unknown_dynamic_type() {
        let sdp = parse_sdp(
            b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 111 96\r\na=rtpmap:111 opus/48000/2\r\n",
        );
        let c = sdp.media[0].codecs();
        assert_eq!(c[0].name, Some(&b"opus"[..]));
        assert_eq!(c[0].clock_rate, Some(48000));
        assert_eq!(c[0].channels, Some(2));
        assert_eq!(c[1].name, None);
        assert_eq!(
            sdp.anomalies,
            vec![SdpAnomaly::UnknownPayloadType {
                media: 0,
                payload_type: 96
            }]
        );
    }

    #[test]
    fn direction_media_overrides_session() {
        let sdp = parse_sdp(
            b"v=0\r\na=sendonly\r\nc=IN IP4 10.0.0.1\r\n\
m=audio 4000 RTP/AVP 0\r\n\
m=video 4002 RTP/AVP 31\r\na=inactive\r\n",
        );
        assert_eq!(sdp.direction, Some(Direction::SendOnly));
        assert_eq!(sdp.media[0].direction, None);
        assert_eq!(sdp.media[0].effective_direction, Direction::SendOnly);
        assert_eq!(sdp.media[1].effective_direction, Direction::Inactive);
        let none = parse_sdp(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n");
        assert_eq!(none.media[0].effective_direction, Direction::SendRecv);
    }

    #[test]
    fn media_connection_overrides_session_and_ipv6() {
        let sdp = parse_sdp(
            b"v=0\r\nc=IN IP4 224.2.1.1/127/3\r\n\
m=audio 4000/2 RTP/AVP 0\r\na=rtcp:4001 IN IP4 10.0.0.5\r\n\
m=audio 5000 RTP/AVP 8\r\nc=IN IP6 2001:db8::5\r\n",
        );
        assert_eq!(sdp.connection.unwrap().address, b"224.2.1.1");
        let a = &sdp.media[0];
        assert_eq!(a.port_count, Some(2));
        assert_eq!(a.rtcp(), Some(&b"4001 IN IP4 10.0.0.5"[..]));
        assert_eq!(a.effective_connection.unwrap().address, b"224.2.1.1");
        let b = &sdp.media[1];
        let c = b.effective_connection.unwrap();
        assert_eq!((c.addr_type, c.address), (&b"IP6"[..], &b"2001:db8::5"[..]));
    }

    #[test]
    fn hold_and_disabled_streams() {
        let sdp = parse_sdp(
            b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 0 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n",
        );
        assert!(sdp.connection.unwrap().is_unspecified());
        assert!(sdp.media[0].is_disabled());
        let t38 = sdp.media[1].codecs();
        assert_eq!(t38[0].payload_type, None);
        assert_eq!(t38[0].name, Some(&b"t38"[..]));
    }

    #[test]
    fn tolerates_broken_lines() {
        let sdp = parse_sdp(
            b"garbage\r\nv=0\r\no=short\r\nc=IN\r\nm=audio\r\na=rtpmap:x\r\nm=audio 4000 RTP/AVP 0\n",
        );
        let a = &sdp.anomalies;
        assert!(a.contains(&SdpAnomaly::MalformedLine { offset: 0 }));
        assert!(a.contains(&SdpAnomaly::BadOrigin { offset: 14 }));
        assert!(a
            .iter()
            .any(|x| matches!(x, SdpAnomaly::BadConnection { .. })));
        assert!(a.iter().any(|x| matches!(x, SdpAnomaly::BadMedia { .. })));
        assert!(a.iter().any(|x| matches!(x, SdpAnomaly::BadRtpmap { .. })));
        assert!(a.contains(&SdpAnomaly::NoConnection { media: 1 }));
        assert_eq!(sdp.media.len(), 2);
        assert_eq!(sdp.media[1].port, Some(4000));
        let empty = parse_sdp(b"");
        assert!(empty.media.is_empty());
        let no_v = parse_sdp(b"s=x\r\n");
        assert!(no_v.anomalies.contains(&SdpAnomaly::NoVersionFirst));
    }

    #[test]
    fn finding_sdp_in_bodies() {
        assert_eq!(
            find_sdp(Some(b"application/SDP"), b"v=0"),
            Some(&b"v=0"[..])
        );
        assert_eq!(
            find_sdp(Some(b"application/sdp; charset=x"), b"x"),
            Some(&b"x"[..])
        );
        assert_eq!(find_sdp(None, b"\r\nv=0\r\n"), Some(&b"\r\nv=0\r\n"[..]));
        assert_eq!(find_sdp(None, b"hello"), None);
        assert_eq!(find_sdp(Some(b"text/plain"), b"v=0"), None);
    }

    #[test]
    fn multipart_body_with_sdp_part() {
        let body = b"--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\
\r\n\
\x01\x00\x49\r\n\
--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 8\r\n\
\r\n--unique-boundary-1--\r\n";
        let ct = b"multipart/mixed;boundary=\"unique-boundary-1\"";
        let sdp = find_sdp(Some(ct), body).unwrap();
        assert!(sdp.starts_with(b"v=0\r\n"));
        assert!(sdp.ends_with(b"RTP/AVP 8\r\n"));
        assert_eq!(parse_sdp(sdp).media[0].port, Some(7000));
        assert_eq!(find_sdp(Some(b"multipart/mixed"), body), None);
        assert_eq!(find_sdp(Some(b"multipart/mixed;boundary=zzz"), body), None);
    }

    /// Everything [`parse_sdp_media`] promises to read as [`parse_sdp`] does.
    fn assert_media_reading_agrees(raw: &[u8]) {
        let (full, lean) = (parse_sdp(raw), parse_sdp_media(raw));
        assert_eq!(
            (
                full.version,
                full.session_name,
                full.connection,
                full.direction
            ),
            (
                lean.version,
                lean.session_name,
                lean.connection,
                lean.direction
            ),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(full.media.len(), lean.media.len());
        assert!(lean.origin.is_none() && lean.attributes.is_empty() && lean.anomalies.is_empty());
        for (f, l) in full.media.iter().zip(&lean.media) {
            assert_eq!(
                (f.kind, f.port, f.port_count, f.proto, f.formats),
                (l.kind, l.port, l.port_count, l.proto, l.formats)
            );
            assert_eq!(
                (f.connection, f.effective_connection),
                (l.connection, l.effective_connection)
            );
            assert_eq!(
                (f.direction, f.effective_direction),
                (l.direction, l.effective_direction)
            );
            assert_eq!(f.rtpmaps, l.rtpmaps);
            assert!(f.codec_names().eq(l.codec_names()));
            assert!(l.attributes.is_empty());
        }
    }

    #[test]
    fn media_reading_agrees_with_the_full_parse() {
        let bodies: [&[u8]; 6] = [
            OFFER,
            b"v=0\nc=IN IP4 10.0.0.1\na=recvonly\nm=audio 4000/2 RTP/AVP 0 96\n\
              a=rtpmap:96 opus/48000/2\na=rtpmap:96 dup/8000\nm=video 0 RTP/AVP 97\n\
              c=IN IP6 ::1\na=inactive\na=rtpmap:97\n",
            b"o=x\nm=audio x RTP/AVP\njunk\nc=IN\na=sendonly\nm=image 5 udptl t38\n",
            b"v=0\r\ns=-\r\nm=audio 1 RTP/AVP 8 101\r\ns=in media\r\na=rtpmap:101 te/8000\r\n",
            b"",
            b"\r\n\r\n",
        ];
        for b in bodies {
            assert_media_reading_agrees(b);
            for cut in 0..=b.len() {
                assert_media_reading_agrees(&b[..cut]);
            }
        }
    }

    #[test]
    fn never_panics_on_truncations() {
        for cut in 0..=OFFER.len() {
            let sdp = parse_sdp(&OFFER[..cut]);
            for m in &sdp.media {
                let _ = m.codecs();
            }
        }
        let body = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--";
        for cut in 0..=body.len() {
            let _ = find_sdp(Some(b"multipart/mixed;boundary=b"), &body[..cut]);
        }
    }

    /// `split_first_token` as it was before it stopped trimming the rest's end (the
    /// reference for the faster one).
    fn split_first_token_reference(s: &[u8]) -> (&[u8], &[u8]) {
        let s = trim_lws(s);
        match s.iter().position(|&b| b == b' ' || b == b'\t') {
            Some(i) => (&s[..i], trim_lws(&s[i..])),
            None => (s, &[]),
        }
    }

    /// Every string of up to `max` bytes over `alphabet`.
    fn all_strings(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..max {
            let mut next = Vec::new();
            for s in &last {
                for &b in alphabet {
                    let mut t = s.clone();
                    t.push(b);
                    next.push(t);
                }
            }
            out.extend(next.iter().cloned());
            last = next;
        }
        out
    }

    #[test]
    fn token_split_matches_the_reference() {
        for s in all_strings(b" \t\r\na/1", 6) {
            assert_eq!(
                split_first_token(&s),
                split_first_token_reference(&s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn rtpmap_reading_matches_the_general_one() {
        for s in all_strings(b" \t\r/9a0", 7) {
            assert_eq!(read_rtpmap(&s), parse_rtpmap(&s), "{s:?}");
            assert_eq!(spaced_rtpmap(&s), parse_rtpmap(&s), "{s:?}");
            if let Some(map) = plain_rtpmap(&s) {
                assert_eq!(Some(map), parse_rtpmap(&s), "{s:?}");
            }
            assert_eq!(leading_digits(&s), leading_u32(&s), "{s:?}");
        }
        for s in [
            &b"101 telephone-event/8000"[..],
            b"111 opus/48000/2",
            b"96  H264 / 90000 ",
            b"97 x/4294967295/4294967296",
            b"98 x/99999999999999999999999/7",
            b"256 x/8000",
            b"08 PCMA/8000/1/junk",
            b"0\tPCMU/8000x/2y",
            b"9 G722/\xff8000",
            b"9 \xc3\xa9/16000",
            b"x PCMU/8000",
            b"0 /8000",
            b"0 PCMU",
            b"",
            b"255 x/8000",
            b"256 x/8000",
            b"0000 x/8000",
            b"1 a/123456789/987654321",
            b"1 a/1234567890",
            b"1 a/1/2/3",
            b"1 a/1/",
            b"1 a//1",
            b"1 a/ 1",
            b"1 a /1",
            b"1  a/1",
            b"1\ta/1",
            b"1 a\rb/1",
            b"1 \xff/8000/2",
            b"101 telephone-event/8000",
        ] {
            assert_eq!(read_rtpmap(s), parse_rtpmap(s), "{s:?}");
        }
        // The usual writing is read by the one-walk reader, not handed on.
        for s in [&b"0 PCMU/8000"[..], b"111 opus/48000/2", b"9 G722/8000/1"] {
            assert!(plain_rtpmap(s).is_some(), "{s:?}");
        }
    }

    #[test]
    fn connection_reading_matches_the_general_one() {
        for prefix in [
            &b"IN IP4 "[..],
            b"IN IP6 ",
            b"IN IP4",
            b"IN IP5 ",
            b"IN  IP4 ",
            b"IN\tIP4 ",
            b"in ip4 ",
            b"IN IP4 IP4 ",
            b" IN IP4 ",
            b"",
        ] {
            for rest in all_strings(b" \t\r/1:", 5) {
                let s = [prefix, &rest].concat();
                assert_eq!(parse_connection(&s), spaced_connection(&s), "{s:?}");
            }
        }
        // The usual writing: its three fields, the multicast suffix cut.
        let usual = b"IN IP6 2001:db8::1/64";
        assert_eq!(
            parse_connection(usual).map(|c| (c.net_type, c.addr_type, c.address)),
            Some((&b"IN"[..], &b"IP6"[..], &b"2001:db8::1"[..]))
        );
    }

    /// The media reading against the general parser's reduced walk it replaced: the whole
    /// result, for the body and every cut of it; and the sections [`read_media`] hands over
    /// against the media reading's.
    fn assert_same_media_reading(raw: &[u8]) {
        for cut in 0..=raw.len() {
            let b = &raw[..cut];
            assert_eq!(
                parse_sdp_media(b),
                parse_sdp_with(b, false),
                "{:?}",
                String::from_utf8_lossy(b)
            );
            assert_sections_agree(b);
        }
    }

    /// [`read_media`] hands over, in order, what [`parse_sdp_media`] lists.
    fn assert_sections_agree(raw: &[u8]) {
        let sdp = parse_sdp_media(raw);
        let mut media = sdp.media.iter();
        let session = read_media(raw, |s| {
            let m = media.next().expect("no more media in the parsed body");
            assert_eq!(
                (s.kind, s.port, s.port_count, s.proto, s.formats),
                (m.kind, m.port, m.port_count, m.proto, m.formats),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(
                (s.effective_connection, s.effective_direction),
                (m.effective_connection, m.effective_direction)
            );
            assert!(s.codec_names().eq(m.codec_names()));
        });
        assert!(media.next().is_none(), "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(session, sdp.connection);
    }

    #[test]
    fn media_reading_matches_the_reference_on_tricky_bodies() {
        let bodies: [&[u8]; 12] = [
            OFFER,
            // LF only, session-level direction and a media one, two sections, IPv6, port 0.
            b"v=0\nc=IN IP4 10.0.0.1\na=sendonly\nm=audio 4000/2 RTP/AVP 0 96\n\
              a=rtpmap:96 opus/48000/2\na=inactive:x\nm=video 0 RTP/AVP 97\n\
              c=IN IP6 2001:db8::7/64\na=recvonly\na=rtpmap:97 H264/90000\n",
            // Missing v=, o= and c=; broken lines; a session-level rtpmap.
            b"a=rtpmap:0 PCMU/8000\ns=x\nm=audio x RTP/AVP\njunk\nc=IN\nc=IN IP4\n\
              a=sendonlyx\na=send:only\na=sendrecv\nm=image 5 udptl t38\nc=IN IP4 /1\n",
            // Blanks around everything, tabs, lone CRs inside lines, an s= in a section.
            b" v=0 \r\n\ts=-\t\r\nc=IN\tIP4\t1.2.3.4 extra\r\nm= audio \r1 RTP/AVP 8 101 \r\n\
              s=in media\r\na= rtpmap:101 te/8000\r\na=rtpmap: 8 PCMA / 8000 / 1 \r\n\
              a=rtpmap:8\r\na=rtpmap\r\na=inactive\r\n",
            // CR only, blank lines, non-UTF-8, upper-case keys.
            b"v=0\r\r\n\r\n\n\xff=1\nV=0\nC=IN IP4 9.9.9.9\nc=IN IP4 \xff\xfe\n\
              m=audio 65536 RTP/AVP 0\nm=audio 5/70000 RTP/AVP 0\na=rtpmap:300 x/1\n",
            b"m=audio 1 RTP/AVP\na=sendonly\n",
            b"=\na=\nm=\nc=\ns=\nv=\n1=x\n",
            b"",
            b"\r\n\r\n",
            b"v=0",
            b"a=sendrecv",
            b"c=IN IP4 0.0.0.0\r\nm=audio 0 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n",
        ];
        for b in bodies {
            assert_same_media_reading(b);
        }
        // Every pairing of a few tricky lines, in both line ends.
        let lines: [&[u8]; 12] = [
            b"c=IN IP4 10.0.0.1",
            b"c=IN IP6 ::",
            b"m=audio 4000 RTP/AVP 0 8 101",
            b"m=video 0 RTP/AVP 96",
            b"a=rtpmap:101 telephone-event/8000",
            b"a=rtpmap:96 H264/90000/1",
            b"a=sendonly",
            b"a=inactive",
            b"a=recvonly:1",
            b"s=-",
            b"v=0",
            b"x",
        ];
        for end in [&b"\r\n"[..], b"\n"] {
            for a in lines {
                for b in lines {
                    for c in lines {
                        let body = [a, end, b, end, c, end].concat();
                        assert_eq!(parse_sdp_media(&body), parse_sdp_with(&body, false));
                        assert_sections_agree(&body);
                    }
                }
            }
        }
    }

    /// The same on the SDP bodies of the sample and corpus captures: the bytes from each
    /// `v=0` on (the frame's end, the next frame's headers and any binary data included).
    #[test]
    fn media_reading_matches_the_reference_on_captures() {
        let bodies = capture_sdp_windows(|path, at, window| {
            // The whole window, and its prefixes ending at a line end.
            assert_eq!(parse_sdp_media(window), parse_sdp_with(window, false));
            for end in memchr::memchr_iter(b'\n', window) {
                let b = &window[..=end];
                assert_eq!(
                    parse_sdp_media(b),
                    parse_sdp_with(b, false),
                    "{path:?} at {at}"
                );
                assert_sections_agree(b);
            }
        });
        assert!(bodies > 20, "only {bodies} SDP bodies found");
    }
}

/// Test data shared with other modules' tests.
#[cfg(test)]
pub(crate) mod test_bodies {
    use std::path::Path;

    /// Calls `each` with (file, offset, window) for every `v=0` in the bundled samples and the
    /// corpus captures, the window being the next 1,500 bytes at most; returns how many.
    pub(crate) fn capture_sdp_windows(mut each: impl FnMut(&Path, usize, &[u8])) -> usize {
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")];
        match crate::testdata::corpus_dir() {
            Some(d) => dirs.push(d),
            None => {
                eprintln!("!!!!!! the shared corpus is absent: only the samples are read !!!!!!")
            }
        }
        let mut bodies = 0;
        for dir in dirs {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for path in files {
                let data = std::fs::read(&path).unwrap();
                for at in memchr::memmem::find_iter(&data, b"v=0") {
                    each(&path, at, &data[at..data.len().min(at + 1500)]);
                    bodies += 1;
                }
            }
        }
        bodies
    }
}
