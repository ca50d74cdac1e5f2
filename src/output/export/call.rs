//! The JSON shape of one call and how it is built from the model ([`Call`]) and the annotation
//! of its responses ([`dialog::annotate`]). Strings are borrowed from the call: building an
//! export copies little, and escaping for terminals happens in the writer.
//!
//! The lists of a call (participants, dialogs, transactions, messages) and the lists under
//! them are not collected: each element is made from the call as it is written. A message is
//! written straight from its [`Msg`] (no [`MessageJson`] is built), the annotation of a
//! response straight from its [`Annotation`], once per step: its other sightings copy those
//! bytes. The derived `Serialize` of the element types is the reference the hand-written
//! writer is tested against.
//!
//! Conventions (the schema says the same): optional facts are present as `null` rather than
//! left out, so every row loaded into a database has the same columns; only `raw` is left out
//! when `--raw` was not given. References inside a call are 0-based indices into the call's
//! own arrays (`messages`, `dialogs`, `transactions`); hosts are named by their participant
//! `label`.

use crate::diagnose;
use crate::media::StreamReport;
use crate::output::diagnose::CallDiagnosis;
use crate::output::media::StreamJson;
use serde::ser::SerializeStruct;
use serde::Serialize;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::net::IpAddr;
use std::ops::Range;

use super::{epoch_us, ExportContext, SCHEMA_VERSION};
use crate::dialog::{
    self, Acting, Annotation, Call, CallState, Dialog, DialogState, HopOrigin, Host, Ipv4Label,
    Leg, MediaSummary, Msg, MsgInfo, Party, PartyName, Repeat, Role, RoleSource, SdpSummary, Start,
    StepIdx, Text, Transaction,
};
use crate::knowledge::{self, Class};
use crate::net::{FrameRef, Transport};
use crate::output::json::{decimal, put_quoted_plain, put_u64, AppendJson, JsonBuf, JsonOut};
use crate::output::time::{rfc3339_micros, rfc3339_micros_bytes};
use crate::sip::MessageFlags;
use crate::{append_json_by_serde, json_object};

/// One call: summary, participants, dialogs, transactions and every message (the lists are
/// written from the call, see [`CallJson::participants`] and the methods after it).
#[derive(Debug)]
pub struct CallJson<'a> {
    pub schema_version: u32,
    pub call_id: &'a str,
    pub start_time: Rfc3339Micros,
    pub start_epoch_us: i64,
    pub end_time: Rfc3339Micros,
    pub end_epoch_us: i64,
    /// Answered: from the 2xx to the BYE (or the last message); otherwise first to last.
    pub duration_us: i64,
    pub answered_time: Option<Rfc3339Micros>,
    pub ended_time: Option<Rfc3339Micros>,
    pub state: &'static str,
    /// One word from the diagnosis vocabulary (docs/outcomes.md), as in `diagnosis.outcome`.
    pub outcome: &'static str,
    pub failed: bool,
    pub final_code: Option<u16>,
    pub final_reason: Option<&'a str>,
    /// Label of the participant that generated the final response, when captured.
    pub final_generated_by: Option<HostText>,
    pub first_method: &'a str,
    pub from_user: &'a str,
    pub to_user: &'a str,
    pub message_count: usize,
    pub related_call_ids: &'a [String],
    pub notes: &'a [String],
    /// What the lists are made from.
    call: &'a Call,
    ctx: &'a ExportContext,
    names: HostNames,
    /// The annotation of each step (responses only), made once: every sighting shares it.
    annotations: SmallVec<[Option<Annotation>; 8]>,
    /// What happened, where and why (the object `sipscope diagnose --json` prints).
    pub diagnosis: CallDiagnosis<'a>,
    /// The call's RTP streams; `None` (null) when media was not analysed.
    pub streams: Option<Vec<StreamJson<'a>>>,
}

/// What the export knows of the capture's media: the RTP streams found (indexed), and when the
/// capture ended (to judge calls still up at its end).
#[derive(Debug, Clone, Copy)]
pub struct ExportMedia<'a> {
    pub capture: &'a diagnose::CaptureStreams<'a>,
    pub capture_end_ns: Option<i64>,
}

/// A host taking part in the call.
#[derive(Debug, Serialize)]
pub struct ParticipantJson<'a> {
    /// How messages and annotations name it: `10.0.0.1`, or `127.0.0.1:5060` when the call
    /// has several endpoints on one address.
    pub label: HostText,
    pub address: HostText,
    /// Set when the participant is one address:port (else it is the whole address).
    pub port: Option<u16>,
    pub ports: &'a [u16],
    pub role: &'static str,
    /// `wire` (inferred from behaviour), `hint` (User-Agent/Server), `override` (--role).
    pub role_source: &'static str,
    pub role_hint: Option<&'static str>,
    pub user_agents: &'a [String],
    pub servers: &'a [String],
    pub sent: usize,
    pub received: usize,
    pub originated: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub record_routed: bool,
}

#[derive(Debug, Serialize)]
pub struct DialogJson<'a> {
    /// Tags as in the request that created the dialog.
    pub from_tag: &'a str,
    pub to_tag: &'a str,
    pub state: &'static str,
    /// Index of the message (first sighting) that created, confirmed and ended it.
    pub created_by: Option<usize>,
    pub confirmed_by: Option<usize>,
    pub ended_by: Option<usize>,
    pub created_by_transaction: Option<usize>,
    pub transactions: &'a [usize],
    pub seen_mid_way: bool,
    /// Indices of the messages that belong to this dialog.
    pub messages: DialogMessages<'a>,
}

#[derive(Debug, Serialize)]
pub struct ResponseRef {
    pub status: u16,
    /// Index of its first sighting.
    pub message: Option<usize>,
}

/// One RFC 3261 transaction on one leg.
#[derive(Debug, Serialize)]
pub struct LegJson<'a> {
    pub branch: Option<&'a str>,
    pub sent_by: &'a str,
    pub client: HostText,
    pub server: HostText,
    pub request: usize,
}

#[derive(Debug, Serialize)]
pub struct TransactionJson<'a> {
    pub method: &'a str,
    pub cseq: u32,
    pub request: Option<usize>,
    pub responses: ResponseRefs<'a>,
    pub final_status: Option<u16>,
    pub final_response: Option<usize>,
    pub cancels: StepMessages<'a>,
    pub acks: StepMessages<'a>,
    pub in_dialog: bool,
    pub rfc2543: bool,
    pub dialog: Option<usize>,
    pub dialogs: &'a [usize],
    pub legs: Legs<'a>,
}

#[derive(Debug, Serialize)]
pub struct PartyJson<'a> {
    pub display: &'a str,
    pub uri: &'a str,
    pub user: &'a str,
    pub tag: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct HintJson {
    pub phrase: &'static str,
    pub cause: &'static str,
}

/// What a response means here (see [`dialog::annotate`]).
#[derive(Debug, Serialize)]
pub struct AnnotationJson {
    pub class: &'static str,
    pub class_label: &'static str,
    pub known: bool,
    pub default_reason: &'static str,
    pub meaning: &'static str,
    pub generated_by: Option<HostText>,
    pub proxied_by: Vec<HostText>,
    pub received_by: Option<HostText>,
    /// The kind of box the receiver is taken as (`phone`, `gateway`, `proxy`).
    pub receiver_role: Option<&'static str>,
    /// What that kind of box is expected to do next.
    pub expected_next: Option<&'static str>,
    pub hint: Option<HintJson>,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct MediaJson<'a> {
    pub kind: &'a str,
    pub port: u16,
    pub proto: &'a str,
    pub codecs: &'a [Text],
    pub direction: &'a str,
    pub address: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct SdpJson<'a> {
    pub address: Option<&'a str>,
    pub media: MediaList<'a>,
}

/// One sighting of a SIP message.
#[derive(Debug, Serialize)]
pub struct MessageJson<'a> {
    pub index: usize,
    /// Frame that completed the message (1-based, as Wireshark numbers frames).
    pub frame: u64,
    /// Every frame that carried part of it (IP fragments, TCP segments), in order.
    pub frames: FrameNumbers<'a>,
    pub file: &'a str,
    pub time: Rfc3339Micros,
    pub epoch_us: i64,
    pub src_address: HostText,
    pub src_port: u16,
    pub dst_address: HostText,
    pub dst_port: u16,
    pub sender: HostText,
    pub receiver: HostText,
    pub transport: &'static str,
    pub via_transport: Option<&'a str>,
    pub kind: &'static str,
    pub method: Option<&'a str>,
    pub request_uri: Option<&'a str>,
    pub status: Option<u16>,
    pub reason: Option<&'a str>,
    pub cseq: Option<u32>,
    pub cseq_method: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub via_count: usize,
    pub from: PartyJson<'a>,
    pub to: PartyJson<'a>,
    pub step: Option<usize>,
    pub transaction: Option<usize>,
    pub dialog: Option<usize>,
    pub hop: Option<usize>,
    pub hop_origin: Option<&'static str>,
    pub sender_acts: Option<&'static str>,
    pub receiver_acts: Option<&'static str>,
    pub repeat: &'static str,
    pub retransmission: bool,
    pub duplicate: bool,
    pub original: Option<usize>,
    pub original_frame: Option<u64>,
    /// The response's annotation, made once per step (every sighting shares it).
    pub annotation: Option<AnnotationRef<'a>>,
    pub sdp: Option<SdpJson<'a>>,
    pub anomalies: &'a [Text],
    pub flags: FlagNames,
    pub size: usize,
    pub user_agent: Option<&'a str>,
    pub server: Option<&'a str>,
    pub contact: Option<&'a str>,
    pub reason_header: Option<&'a str>,
    pub warning: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub expires: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub max_forwards: Option<u32>,
    pub has_credentials: bool,
    pub has_challenge: bool,
    /// The message text (lossy UTF-8), only with `--raw`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawText<'a>>,
}

pub(crate) fn state_name(s: CallState) -> &'static str {
    match s {
        CallState::Calling => "calling",
        CallState::Ringing => "ringing",
        CallState::InCall => "in_call",
        CallState::Completed => "completed",
        CallState::Cancelled => "cancelled",
        CallState::Rejected => "rejected",
        CallState::Redirected => "redirected",
        CallState::NoAnswer => "no_answer",
        CallState::Done => "done",
        CallState::Failed => "failed",
        CallState::Unanswered => "unanswered",
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::UserAgent => "user_agent",
        Role::Phone => "phone",
        Role::Gateway => "gateway",
        Role::Proxy => "proxy",
        Role::B2bua => "b2bua",
        Role::Registrar => "registrar",
        Role::Redirect => "redirect",
    }
}

fn knowledge_role_name(r: knowledge::Role) -> &'static str {
    match r {
        knowledge::Role::Phone => "phone",
        knowledge::Role::Gateway => "gateway",
        knowledge::Role::Proxy => "proxy",
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Provisional => "provisional",
        Class::Success => "success",
        Class::Redirection => "redirection",
        Class::ClientFailure => "client_failure",
        Class::ServerFailure => "server_failure",
        Class::GlobalFailure => "global_failure",
        Class::Unknown(_) => "unknown",
    }
}

pub(super) fn acting_name(a: Acting) -> &'static str {
    match a {
        Acting::Client => "uac",
        Acting::Server => "uas",
        Acting::Forwarder => "forwarder",
    }
}

/// [`acting_name`] as a JSON string, quotes included.
pub(super) fn acting_json(a: Acting) -> &'static [u8] {
    match a {
        Acting::Client => b"\"uac\"",
        Acting::Server => b"\"uas\"",
        Acting::Forwarder => b"\"forwarder\"",
    }
}

/// `,"transport":` with the name of `t` ([`Transport::as_str`]) and `,"via_transport":`.
pub(super) fn transport_json(t: Transport) -> &'static [u8] {
    match t {
        Transport::Udp => b",\"transport\":\"udp\",\"via_transport\":",
        Transport::Tcp => b",\"transport\":\"tcp\",\"via_transport\":",
        Transport::Sctp => b",\"transport\":\"sctp\",\"via_transport\":",
    }
}

fn dialog_state_name(s: DialogState) -> &'static str {
    match s {
        DialogState::Early => "early",
        DialogState::Confirmed => "confirmed",
        DialogState::Terminated => "terminated",
    }
}

/// Index of the message a step was first seen in (its first hop's first sighting).
fn step_msg(call: &Call, step: StepIdx) -> Option<usize> {
    call.steps.get(step)?.hops.first().map(|h| h.msg)
}

/// A host label or address as JSON text: IPv4 (with or without a port) written by hand on
/// the stack, anything else as the standard library writes it. Four per exported message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostText {
    Inline(Ipv4Label),
    Owned(String),
}

impl Default for HostText {
    fn default() -> Self {
        HostText::Inline(Ipv4Label::default())
    }
}

impl HostText {
    pub fn into_string(self) -> String {
        match self {
            HostText::Inline(t) => t.as_bytes().iter().map(|&b| char::from(b)).collect(),
            HostText::Owned(s) => s,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            HostText::Inline(t) => t.as_str(),
            HostText::Owned(s) => s,
        }
    }
}

impl Serialize for HostText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// [`Host::label`], with IPv4 written by hand: the standard `Display` of addresses
/// (which honours width and padding) was a tenth of the NDJSON export, with a label per
/// message sender and receiver.
pub(super) fn label(call: &Call, host: usize) -> HostText {
    match call.hosts.get(host) {
        Some(h) => host_label(h),
        None => HostText::default(),
    }
}

fn host_label(h: &Host) -> HostText {
    match h.addr {
        IpAddr::V4(a) => HostText::Inline(Ipv4Label::new(a, h.port)),
        IpAddr::V6(_) => HostText::Owned(h.label()),
    }
}

/// An address as `to_string` writes it, IPv4 by hand (see [`label`]).
pub(super) fn ip_text(ip: IpAddr) -> HostText {
    match ip {
        IpAddr::V4(a) => HostText::Inline(Ipv4Label::new(a, None)),
        IpAddr::V6(_) => HostText::Owned(ip.to_string()),
    }
}

/// The label and the address text of every host of a call, written once: each message
/// names its sender and receiver and their addresses, annotations and legs name hosts too.
/// A call has a few hosts: they are kept inline.
#[derive(Debug)]
pub(super) struct HostNames {
    labels: SmallVec<[HostText; 4]>,
    addresses: SmallVec<[HostText; 4]>,
}

impl HostNames {
    pub(super) fn of(call: &Call) -> HostNames {
        HostNames {
            labels: (0..call.hosts.len()).map(|h| label(call, h)).collect(),
            addresses: call.hosts.iter().map(|h| ip_text(h.addr)).collect(),
        }
    }

    /// [`label`] of host `host`.
    pub(super) fn label(&self, host: usize) -> HostText {
        self.labels.get(host).cloned().unwrap_or_default()
    }

    /// Writes [`label`] of host `host` without copying it.
    fn put_label(&self, buf: &mut JsonBuf, host: usize) -> serde_json::Result<()> {
        match self.labels.get(host) {
            Some(t) => t.append_json(buf),
            None => HostText::default().append_json(buf),
        }
    }

    /// [`ip_text`] of the address of `h`, host `host` of the call.
    fn address(&self, host: usize, h: &Host) -> HostText {
        match self.addresses.get(host) {
            Some(t) => t.clone(),
            None => ip_text(h.addr),
        }
    }

    /// [`ip_text`] of `ip`, taken from host `host` when that is its address.
    pub(super) fn address_of(&self, call: &Call, host: Option<usize>, ip: IpAddr) -> HostText {
        match host.and_then(|i| Some((call.hosts.get(i)?, self.addresses.get(i)?))) {
            Some((h, t)) if h.addr == ip => t.clone(),
            _ => ip_text(ip),
        }
    }

    /// Writes [`HostNames::address_of`] without copying the host's text.
    fn put_address_of(
        &self,
        buf: &mut JsonBuf,
        call: &Call,
        host: Option<usize>,
        ip: IpAddr,
    ) -> serde_json::Result<()> {
        match host.and_then(|i| Some((call.hosts.get(i)?, self.addresses.get(i)?))) {
            Some((h, t)) if h.addr == ip => t.append_json(buf),
            _ => ip_text(ip).append_json(buf),
        }
    }

    /// Writes the label of host `host`, or `""` when there is none (a message not placed).
    fn put_label_of(&self, buf: &mut JsonBuf, host: Option<usize>) -> serde_json::Result<()> {
        match host {
            Some(h) => self.put_label(buf, h),
            None => HostText::default().append_json(buf),
        }
    }
}

/// Writes `[a,b,..]`, each element made as it is written.
fn append_each<T: AppendJson>(
    buf: &mut JsonBuf,
    items: impl Iterator<Item = T>,
) -> serde_json::Result<()> {
    buf.push(b'[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        v.append_json(buf)?;
    }
    buf.push(b']');
    Ok(())
}

/// The list views below (a call's lists read in place, not collected) are written as JSON
/// arrays of what their `iter` gives, by serde and by the fast writer alike.
macro_rules! json_list {
    ($($view:ident),* $(,)?) => {$(
        impl Serialize for $view<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.iter())
            }
        }

        impl AppendJson for $view<'_> {
            fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
                append_each(buf, self.iter())
            }
        }
    )*};
}

json_list!(ResponseRefs, StepMessages, Legs, DialogMessages, MediaList);

/// The annotation of a response, written from the [`Annotation`] itself; its serde form is
/// the [`AnnotationJson`] made from it.
#[derive(Debug, Clone, Copy)]
pub struct AnnotationRef<'a> {
    call: &'a Call,
    note: &'a Annotation,
    names: &'a HostNames,
}

impl Serialize for AnnotationRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        annotation_json(self.call, self.note, self.names).serialize(s)
    }
}

impl AppendJson for AnnotationRef<'_> {
    /// The fields of [`AnnotationJson`], in its order.
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        thread_local! {
            /// The summary line is composed here, then written as one string.
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let (a, names) = (self.note, self.names);
        let (class, label) = (class_name(a.class), a.class.label());
        let head = [
            1,
            text_id(class).0,
            text_id(class).1,
            text_id(label).0,
            text_id(label).1,
            usize::from(a.known),
            text_id(a.default_reason).0,
            text_id(a.default_reason).1,
            text_id(a.meaning).0,
            text_id(a.meaning).1,
        ];
        put_known(buf, &head, |buf| {
            buf.extend_from_slice(b"{\"class\":");
            class.append_json(buf)?;
            buf.extend_from_slice(b",\"class_label\":");
            label.append_json(buf)?;
            buf.extend_from_slice(b",\"known\":");
            a.known.append_json(buf)?;
            buf.extend_from_slice(b",\"default_reason\":");
            a.default_reason.append_json(buf)?;
            buf.extend_from_slice(b",\"meaning\":");
            a.meaning.append_json(buf)
        })?;
        buf.extend_from_slice(b",\"generated_by\":");
        match a.generated_by {
            Some(h) => names.put_label(buf, h)?,
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"proxied_by\":[");
        for (i, h) in a.proxied_by.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            names.put_label(buf, *h)?;
        }
        buf.extend_from_slice(b"],\"received_by\":");
        match a.received_by {
            Some(h) => names.put_label(buf, h)?,
            None => buf.extend_from_slice(b"null"),
        }
        let role = a.receiver_role.map(knowledge_role_name);
        let (next, phrase, cause) = (
            a.on_receipt.map_or((0, 0), text_id),
            a.hint.map_or((0, 0), |h| text_id(h.phrase)),
            a.hint.map_or((0, 0), |h| text_id(h.cause)),
        );
        let tail = [
            2,
            role.map_or(0, |r| text_id(r).0),
            role.map_or(0, |r| text_id(r).1),
            next.0,
            next.1,
            phrase.0,
            phrase.1,
            cause.0,
            cause.1,
            0,
        ];
        put_known(buf, &tail, |buf| {
            buf.extend_from_slice(b",\"receiver_role\":");
            role.append_json(buf)?;
            buf.extend_from_slice(b",\"expected_next\":");
            a.on_receipt.append_json(buf)?;
            buf.extend_from_slice(b",\"hint\":");
            a.hint
                .map(|h| HintJson {
                    phrase: h.phrase,
                    cause: h.cause,
                })
                .append_json(buf)
        })?;
        buf.extend_from_slice(b",\"summary\":");
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                a.write_summary_line(self.call, &mut line);
                buf.put_str(&line)
            }
            // Not reached (nothing here writes an annotation inside another).
            Err(_) => buf.put_str(&a.summary_line(self.call)),
        })?;
        buf.push(b'}');
        Ok(())
    }
}

/// What a piece of an annotation made of knowledge-table texts alone is made of: which piece,
/// then the [`text_id`] of each text (`(0, 0)` for one absent) and flag. Equal keys give
/// equal bytes: a text that lives for the whole run is never replaced at its address.
type KnownKey = [usize; 10];

/// The identity of a text the program holds for the whole run: its address and length.
fn text_id(s: &'static str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// Pieces kept by [`put_known`] (a direct-mapped table: a capture has few kinds of response).
const KNOWN_SLOTS: usize = 256;

/// Writes the piece of an annotation `key` stands for: copied when this thread wrote it
/// before, else written by `write` and kept. The long texts of the knowledge tables (meanings,
/// what a receiver does next) were checked for escapes and copied at every response.
fn put_known(
    buf: &mut JsonBuf,
    key: &KnownKey,
    write: impl FnOnce(&mut JsonBuf) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    thread_local! {
        static KNOWN: RefCell<Vec<(KnownKey, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
    }
    KNOWN.with(|cell| {
        // Never busy: nothing here writes a piece inside another.
        let Ok(mut slots) = cell.try_borrow_mut() else {
            return write(buf);
        };
        if slots.is_empty() {
            // No key starts with 0: empty slots match none.
            slots.resize(KNOWN_SLOTS, ([0; 10], Vec::new()));
        }
        let hash = key.iter().fold(0u64, |h, &w| {
            (h.rotate_left(5) ^ w as u64).wrapping_mul(0x517c_c1b7_2722_0a95)
        });
        // The top bits of the hash, below KNOWN_SLOTS: the cast cannot truncate.
        let Some(slot) = slots.get_mut((hash >> 56) as usize % KNOWN_SLOTS) else {
            return write(buf);
        };
        if slot.0 == *key {
            buf.extend_from_slice(&slot.1);
            return Ok(());
        }
        let start = buf.len();
        write(buf)?;
        slot.0 = *key;
        slot.1.clear();
        slot.1
            .extend_from_slice(buf.as_bytes().get(start..).unwrap_or_default());
        Ok(())
    })
}

/// A message's text as lossy UTF-8 (`--raw`), converted only where it is not valid UTF-8.
#[derive(Debug, Clone, Copy)]
pub struct RawText<'a>(pub &'a [u8]);

impl Serialize for RawText<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(self.0))
    }
}

impl AppendJson for RawText<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        buf.put_str(&String::from_utf8_lossy(self.0))
    }
}

/// The responses of a transaction: status and first sighting of each.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRefs<'a> {
    call: &'a Call,
    steps: &'a [StepIdx],
}

impl ResponseRefs<'_> {
    fn iter(&self) -> impl Iterator<Item = ResponseRef> + '_ {
        self.steps.iter().filter_map(|s| {
            Some(ResponseRef {
                status: self.call.steps.get(*s)?.code()?,
                message: step_msg(self.call, *s),
            })
        })
    }
}

/// The first sighting of each of some steps (those that have one).
#[derive(Debug, Clone, Copy)]
pub struct StepMessages<'a> {
    call: &'a Call,
    steps: &'a [StepIdx],
}

impl StepMessages<'_> {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.steps.iter().filter_map(|s| step_msg(self.call, *s))
    }
}

/// The legs of a transaction.
#[derive(Debug, Clone, Copy)]
pub struct Legs<'a> {
    legs: &'a [Leg],
    names: &'a HostNames,
}

impl Legs<'_> {
    fn iter(&self) -> impl Iterator<Item = LegJson<'_>> + '_ {
        self.legs.iter().map(|l| LegJson {
            branch: l.branch.as_deref(),
            sent_by: &l.sent_by,
            client: self.names.label(l.client),
            server: self.names.label(l.server),
            request: l.request,
        })
    }
}

/// The messages of one dialog: those whose step belongs to it.
#[derive(Debug, Clone, Copy)]
pub struct DialogMessages<'a> {
    call: &'a Call,
    dialog: usize,
}

impl DialogMessages<'_> {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let call = self.call;
        call.info
            .iter()
            .enumerate()
            .filter(move |(_, i)| {
                i.step
                    .and_then(|s| call.steps.get(s))
                    .is_some_and(|s| s.dialog == Some(self.dialog))
            })
            .map(|(m, _)| m)
    }
}

/// The media of an SDP body.
#[derive(Debug, Clone, Copy)]
pub struct MediaList<'a>(&'a [MediaSummary]);

impl MediaList<'_> {
    fn iter(&self) -> impl Iterator<Item = MediaJson<'_>> + '_ {
        self.0.iter().map(|m| MediaJson {
            kind: &m.kind,
            port: m.port,
            proto: &m.proto,
            codecs: &m.codecs,
            direction: &m.direction,
            address: m.address.as_deref(),
        })
    }
}

/// A message's frame numbers, written as an array straight from the message.
#[derive(Debug)]
pub struct FrameNumbers<'a>(pub &'a [FrameRef]);

impl Serialize for FrameNumbers<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| f.number))
    }
}

/// The names of a message's flags, written as an array without collecting them first.
#[derive(Debug)]
pub struct FlagNames(pub MessageFlags);

impl FlagNames {
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        let f = &self.0;
        [
            (f.cut, "cut"),
            (f.bounced, "bounced"),
            (f.reassembled, "reassembled"),
            (f.overlap_conflict, "overlap_conflict"),
            (f.websocket, "websocket"),
            (f.no_content_length, "no_content_length"),
            (f.short_body, "short_body"),
            (f.after_gap, "after_gap"),
            (f.junk_before, "junk_before"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
    }
}

impl Serialize for FlagNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// A time written as [`rfc3339_micros`] does, formatted on the stack while serialising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Micros(pub i64);

impl Serialize for Rfc3339Micros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match rfc3339_micros_bytes(self.0) {
            Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or("")),
            None => s.serialize_str(&rfc3339_micros(self.0)),
        }
    }
}

fn participant<'a>(host: usize, h: &'a Host, names: &HostNames) -> ParticipantJson<'a> {
    ParticipantJson {
        label: names.label(host),
        address: names.address(host, h),
        port: h.port,
        ports: &h.ports,
        role: role_name(h.role),
        role_source: match h.role_source {
            RoleSource::Wire => "wire",
            RoleSource::Hint => "hint",
            RoleSource::Override => "override",
        },
        role_hint: h.hint.map(role_name),
        user_agents: &h.user_agents,
        servers: &h.servers,
        sent: h.sent,
        received: h.received,
        originated: h.behaviour.originated,
        answered: h.behaviour.answered,
        forwarded: h.behaviour.forwarded,
        record_routed: h.behaviour.record_routed,
    }
}

fn dialog_json<'a>(call: &'a Call, idx: usize, d: &'a Dialog) -> DialogJson<'a> {
    let messages = DialogMessages { call, dialog: idx };
    DialogJson {
        from_tag: &d.local_tag,
        to_tag: &d.remote_tag,
        state: dialog_state_name(d.state),
        created_by: step_msg(call, d.created_by),
        confirmed_by: d.confirmed_by.and_then(|s| step_msg(call, s)),
        ended_by: d.ended_by.and_then(|s| step_msg(call, s)),
        created_by_transaction: d.created_by_tx,
        transactions: &d.transactions,
        seen_mid_way: d.seen_mid_way,
        messages,
    }
}

fn transaction_json<'a>(
    call: &'a Call,
    t: &'a Transaction,
    names: &'a HostNames,
) -> TransactionJson<'a> {
    let steps_msgs = |steps: &'a [StepIdx]| StepMessages { call, steps };
    TransactionJson {
        method: &t.method,
        cseq: t.cseq,
        request: t.request.and_then(|s| step_msg(call, s)),
        responses: ResponseRefs {
            call,
            steps: &t.responses,
        },
        final_status: t
            .final_response
            .and_then(|s| call.steps.get(s))
            .and_then(|s| s.code()),
        final_response: t.final_response.and_then(|s| step_msg(call, s)),
        cancels: steps_msgs(&t.cancels),
        acks: steps_msgs(&t.acks),
        in_dialog: t.in_dialog,
        rfc2543: t.rfc2543,
        dialog: t.dialog,
        dialogs: &t.dialogs,
        legs: Legs {
            legs: &t.legs,
            names,
        },
    }
}

fn annotation_json(call: &Call, a: &Annotation, names: &HostNames) -> AnnotationJson {
    AnnotationJson {
        class: class_name(a.class),
        class_label: a.class.label(),
        known: a.known,
        default_reason: a.default_reason,
        meaning: a.meaning,
        generated_by: a.generated_by.map(|h| names.label(h)),
        proxied_by: a.proxied_by.iter().map(|h| names.label(*h)).collect(),
        received_by: a.received_by.map(|h| names.label(h)),
        receiver_role: a.receiver_role.map(knowledge_role_name),
        expected_next: a.on_receipt,
        hint: a.hint.map(|h| HintJson {
            phrase: h.phrase,
            cause: h.cause,
        }),
        summary: a.summary_line(call),
    }
}

fn party<'a>(p: &'a Party, n: &'a PartyName) -> PartyJson<'a> {
    PartyJson {
        display: &n.display,
        uri: &n.uri,
        user: &p.user,
        tag: p.tag.as_deref(),
    }
}

fn sdp_json(s: &SdpSummary) -> SdpJson<'_> {
    SdpJson {
        address: s.address.as_deref(),
        media: MediaList(&s.media),
    }
}

/// Annotations of response steps, computed once per step (every sighting shares it).
fn annotations(call: &Call) -> SmallVec<[Option<Annotation>; 8]> {
    (0..call.steps.len())
        .map(|s| dialog::annotate(call, s))
        .collect()
}

fn message_json<'a>(
    call: &'a Call,
    idx: usize,
    m: &'a Msg,
    info: Option<&MsgInfo>,
    notes: &'a [Option<Annotation>],
    names: &'a HostNames,
    ctx: &'a ExportContext,
) -> MessageJson<'a> {
    let step_idx = info.and_then(|i| i.step);
    let step = step_idx.and_then(|s| call.steps.get(s));
    let hop_idx = info.and_then(|i| i.hop);
    let hop = step.zip(hop_idx).and_then(|(s, h)| s.hops.get(h));
    let (method, request_uri, status, reason, kind) = match &m.start {
        Start::Request { method, uri } => (
            Some(method.as_str()),
            Some(uri.as_str()),
            None,
            None,
            "request",
        ),
        Start::Response { code, reason } => {
            (None, None, Some(*code), Some(reason.as_str()), "response")
        }
        Start::Invalid => (None, None, None, None, "invalid"),
    };
    let (repeat, original) = match info.map(|i| i.repeat) {
        Some(Repeat::Retransmission { of }) => ("retransmission", Some(of)),
        Some(Repeat::Duplicate { of }) => ("duplicate", Some(of)),
        _ => ("first", None),
    };
    let flow = &m.flow;
    MessageJson {
        index: idx,
        frame: m.frame.number,
        frames: FrameNumbers(&m.frames),
        file: ctx.file_name(m.frame.file),
        time: Rfc3339Micros(m.frame.ts_ns),
        epoch_us: epoch_us(m.frame.ts_ns),
        src_address: names.address_of(call, info.map(|i| i.src), flow.src.ip),
        src_port: flow.src.port,
        dst_address: names.address_of(call, info.map(|i| i.dst), flow.dst.ip),
        dst_port: flow.dst.port,
        sender: info.map(|i| names.label(i.src)).unwrap_or_default(),
        receiver: info.map(|i| names.label(i.dst)).unwrap_or_default(),
        transport: flow.transport.as_str(),
        via_transport: m.vias.first().map(|v| v.transport.as_str()),
        kind,
        method,
        request_uri,
        status,
        reason,
        cseq: m.cseq.as_ref().map(|(n, _)| *n),
        cseq_method: m.cseq.as_ref().map(|(_, s)| s.as_str()),
        branch: m.top_branch(),
        via_count: m.vias.len(),
        from: party(&m.from, &m.extra.from_name),
        to: party(&m.to, &m.extra.to_name),
        step: step_idx,
        transaction: step.map(|s| s.transaction),
        dialog: step.and_then(|s| s.dialog),
        hop: hop_idx,
        hop_origin: hop.map(|h| match h.origin {
            HopOrigin::Generated => "generated",
            HopOrigin::Forwarded => "forwarded",
        }),
        sender_acts: hop.map(|h| acting_name(h.sender_acts)),
        receiver_acts: hop.map(|h| acting_name(h.receiver_acts)),
        repeat,
        retransmission: repeat == "retransmission",
        duplicate: repeat == "duplicate",
        original,
        original_frame: original
            .and_then(|o| call.messages.get(o))
            .map(|o| o.frame.number),
        annotation: step_idx
            .and_then(|s| notes.get(s))
            .and_then(Option::as_ref)
            .map(|note| AnnotationRef { call, note, names }),
        sdp: m.extra.sdp.as_ref().map(sdp_json),
        anomalies: &m.extra.anomalies,
        flags: FlagNames(m.flags),
        size: m.size,
        user_agent: m.user_agent.as_deref(),
        server: m.server.as_deref(),
        contact: m.extra.contact.as_deref(),
        reason_header: m.extra.reason_header.as_deref(),
        warning: m.extra.warning.as_deref(),
        retry_after: m.extra.retry_after.as_deref(),
        expires: m.extra.expires.as_deref(),
        content_type: m.extra.content_type.as_deref(),
        max_forwards: m.extra.max_forwards,
        has_credentials: m.has_credentials,
        has_challenge: m.has_challenge,
        raw: ctx
            .raw
            .then(|| RawText(m.extra.raw.as_deref().unwrap_or_default())),
    }
}

append_json_by_serde!(StreamJson<'_>);

impl AppendJson for HostText {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        match self {
            // Digits, dots and a colon only.
            HostText::Inline(t) => put_quoted_plain(buf, t.as_bytes()),
            HostText::Owned(s) => s.append_json(buf)?,
        }
        Ok(())
    }
}

impl AppendJson for Rfc3339Micros {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        match rfc3339_micros_bytes(self.0) {
            // Digits, `-`, `:`, `.`, `T` and `Z` only.
            Some(b) => put_quoted_plain(buf, &b),
            None => rfc3339_micros(self.0).append_json(buf)?,
        }
        Ok(())
    }
}

impl AppendJson for FrameNumbers<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        buf.push(b'[');
        for (i, f) in self.0.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            put_u64(buf, f.number);
        }
        buf.push(b']');
        Ok(())
    }
}

impl AppendJson for FlagNames {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        // Nearly every message has no flag: no names to go through.
        if self.0 == MessageFlags::default() {
            buf.extend_from_slice(b"[]");
            return Ok(());
        }
        buf.push(b'[');
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            // Names chosen here, lower case letters and `_`.
            put_quoted_plain(buf, name.as_bytes());
        }
        buf.push(b']');
        Ok(())
    }
}

impl AppendJson for PartyJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; display, uri, user, tag);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for MediaJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; kind, port, proto, codecs, direction, address);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for SdpJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; address, media);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for HintJson {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; phrase, cause);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for ParticipantJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self;
            label, address, port, ports, role, role_source, role_hint, user_agents, servers,
            sent, received, originated, answered, forwarded, record_routed);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for DialogJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self;
            from_tag, to_tag, state, created_by, confirmed_by, ended_by,
            created_by_transaction, transactions, seen_mid_way, messages);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for ResponseRef {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; status, message);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for LegJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; branch, sent_by, client, server, request);
        buf.push(b'}');
        Ok(())
    }
}

impl AppendJson for TransactionJson<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self;
            method, cseq, request, responses, final_status, final_response, cancels, acks,
            in_dialog, rfc2543, dialog, dialogs, legs);
        buf.push(b'}');
        Ok(())
    }
}

/// Writes `,"key":[..]`, the elements made as they are written.
macro_rules! list_field {
    ($buf:expr, $name:literal, $items:expr) => {{
        $buf.extend_from_slice(concat!(",\"", $name, "\":").as_bytes());
        append_each($buf, $items)?;
    }};
}

impl AppendJson for CallJson<'_> {
    /// Writes the call exactly as its `Serialize` does through
    /// [`append_value`](crate::output::json::append_value) (the export tests compare both),
    /// every object of it written by hand but the streams (the diagnosis by the writer of
    /// `diagnose --json`, [`put_diagnosis_object`](crate::output::diagnose::put_diagnosis_object)),
    /// the lists made element by element from the call.
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self;
            schema_version, call_id, start_time, start_epoch_us, end_time, end_epoch_us,
            duration_us, answered_time, ended_time, state, outcome, failed, final_code,
            final_reason, final_generated_by, first_method, from_user, to_user, message_count,
            related_call_ids, notes);
        list_field!(buf, "participants", self.participants());
        list_field!(buf, "dialogs", self.dialogs());
        list_field!(buf, "transactions", self.transactions());
        buf.extend_from_slice(b",\"messages\":");
        self.put_messages(buf)?;
        buf.extend_from_slice(b",\"diagnosis\":");
        self.diagnosis.append_json(buf)?;
        buf.extend_from_slice(b",\"streams\":");
        self.streams.append_json(buf)?;
        buf.push(b'}');
        Ok(())
    }
}

impl CallJson<'_> {
    /// Writes `[..]` of every message as [`MessageJson`] serialises it, straight from the
    /// model. A response's annotation is written at its step's first sighting and copied
    /// from there for the others (the same step seen at several hops, retransmissions).
    fn put_messages(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        // Where each step's annotation was written in `buf` (empty: not yet).
        let mut written: SmallVec<[Range<usize>; 16]> =
            smallvec::smallvec![0..0; self.annotations.len()];
        let mut clock = Clock::default();
        buf.push(b'[');
        for (i, m) in self.call.messages.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            self.put_message(buf, i, m, &mut written, &mut clock)?;
        }
        buf.push(b']');
        Ok(())
    }

    /// Writes message `idx` as its [`MessageJson`] (see [`message_json`]) serialises it; runs
    /// of fields fixed by one fact (the kind of start line, a missing hop, the repeat) are
    /// written as one piece.
    fn put_message(
        &self,
        buf: &mut JsonBuf,
        idx: usize,
        m: &Msg,
        written: &mut [Range<usize>],
        clock: &mut Clock,
    ) -> serde_json::Result<()> {
        let (call, names) = (self.call, &self.names);
        let info = call.info.get(idx);
        let step_idx = info.and_then(|i| i.step);
        let step = step_idx.and_then(|s| call.steps.get(s));
        let hop_idx = info.and_then(|i| i.hop);
        let hop = step.zip(hop_idx).and_then(|(s, h)| s.hops.get(h));
        let flow = &m.flow;
        buf.extend_from_slice(b"{\"index\":");
        idx.append_json(buf)?;
        // The frame number, and again as the only one that carried the message (the rule).
        let mut digits = [0u8; 20];
        let frame = decimal(m.frame.number, &mut digits);
        buf.extend_from_slice(b",\"frame\":");
        buf.extend_from_slice(frame);
        match &m.frames[..] {
            [one] if one.number == m.frame.number => {
                buf.extend_from_slice(b",\"frames\":[");
                buf.extend_from_slice(frame);
                buf.extend_from_slice(b"],\"file\":");
            }
            frames => {
                buf.extend_from_slice(b",\"frames\":");
                FrameNumbers(frames).append_json(buf)?;
                buf.extend_from_slice(b",\"file\":");
            }
        }
        self.ctx.file_name(m.frame.file).append_json(buf)?;
        buf.extend_from_slice(b",\"time\":");
        clock.put(buf, m.frame.ts_ns)?;
        buf.extend_from_slice(b",\"epoch_us\":");
        epoch_us(m.frame.ts_ns).append_json(buf)?;
        buf.extend_from_slice(b",\"src_address\":");
        names.put_address_of(buf, call, info.map(|i| i.src), flow.src.ip)?;
        buf.extend_from_slice(b",\"src_port\":");
        flow.src.port.append_json(buf)?;
        buf.extend_from_slice(b",\"dst_address\":");
        names.put_address_of(buf, call, info.map(|i| i.dst), flow.dst.ip)?;
        buf.extend_from_slice(b",\"dst_port\":");
        flow.dst.port.append_json(buf)?;
        buf.extend_from_slice(b",\"sender\":");
        names.put_label_of(buf, info.map(|i| i.src))?;
        buf.extend_from_slice(b",\"receiver\":");
        names.put_label_of(buf, info.map(|i| i.dst))?;
        buf.extend_from_slice(transport_json(flow.transport));
        m.vias.first().map(|v| &v.transport).append_json(buf)?;
        match &m.start {
            Start::Request { method, uri } => {
                buf.extend_from_slice(b",\"kind\":\"request\",\"method\":");
                method.append_json(buf)?;
                buf.extend_from_slice(b",\"request_uri\":");
                uri.append_json(buf)?;
                buf.extend_from_slice(b",\"status\":null,\"reason\":null");
            }
            Start::Response { code, reason } => {
                buf.extend_from_slice(
                    b",\"kind\":\"response\",\"method\":null,\"request_uri\":null,\"status\":",
                );
                code.append_json(buf)?;
                buf.extend_from_slice(b",\"reason\":");
                reason.append_json(buf)?;
            }
            Start::Invalid => buf.extend_from_slice(
                b",\"kind\":\"invalid\",\"method\":null,\"request_uri\":null,\"status\":null,\"reason\":null",
            ),
        }
        match &m.cseq {
            Some((n, method)) => {
                buf.extend_from_slice(b",\"cseq\":");
                n.append_json(buf)?;
                buf.extend_from_slice(b",\"cseq_method\":");
                method.append_json(buf)?;
            }
            None => buf.extend_from_slice(b",\"cseq\":null,\"cseq_method\":null"),
        }
        buf.extend_from_slice(b",\"branch\":");
        m.top_branch().append_json(buf)?;
        buf.extend_from_slice(b",\"via_count\":");
        m.vias.len().append_json(buf)?;
        buf.extend_from_slice(b",\"from\":");
        put_party(buf, &m.from, &m.extra.from_name)?;
        buf.extend_from_slice(b",\"to\":");
        put_party(buf, &m.to, &m.extra.to_name)?;
        buf.extend_from_slice(b",\"step\":");
        step_idx.append_json(buf)?;
        buf.extend_from_slice(b",\"transaction\":");
        step.map(|s| s.transaction).append_json(buf)?;
        buf.extend_from_slice(b",\"dialog\":");
        step.and_then(|s| s.dialog).append_json(buf)?;
        buf.extend_from_slice(b",\"hop\":");
        hop_idx.append_json(buf)?;
        match hop {
            Some(h) => {
                buf.extend_from_slice(match h.origin {
                    HopOrigin::Generated => b",\"hop_origin\":\"generated\",\"sender_acts\":",
                    HopOrigin::Forwarded => b",\"hop_origin\":\"forwarded\",\"sender_acts\":",
                });
                buf.extend_from_slice(acting_json(h.sender_acts));
                buf.extend_from_slice(b",\"receiver_acts\":");
                buf.extend_from_slice(acting_json(h.receiver_acts));
            }
            None => buf.extend_from_slice(
                b",\"hop_origin\":null,\"sender_acts\":null,\"receiver_acts\":null",
            ),
        }
        let original = match info.map(|i| i.repeat) {
            Some(Repeat::Retransmission { of }) => {
                buf.extend_from_slice(
                    b",\"repeat\":\"retransmission\",\"retransmission\":true,\"duplicate\":false",
                );
                Some(of)
            }
            Some(Repeat::Duplicate { of }) => {
                buf.extend_from_slice(
                    b",\"repeat\":\"duplicate\",\"retransmission\":false,\"duplicate\":true",
                );
                Some(of)
            }
            _ => {
                buf.extend_from_slice(
                    b",\"repeat\":\"first\",\"retransmission\":false,\"duplicate\":false",
                );
                None
            }
        };
        match original {
            Some(of) => {
                buf.extend_from_slice(b",\"original\":");
                of.append_json(buf)?;
                buf.extend_from_slice(b",\"original_frame\":");
                call.messages
                    .get(of)
                    .map(|o| o.frame.number)
                    .append_json(buf)?;
            }
            None => buf.extend_from_slice(b",\"original\":null,\"original_frame\":null"),
        }
        buf.extend_from_slice(b",\"annotation\":");
        let note = step_idx.and_then(|s| Some((s, self.annotations.get(s)?.as_ref()?)));
        match note {
            Some((s, note)) => {
                let again = written.get(s).filter(|w| !w.is_empty()).cloned();
                if !again.is_some_and(|w| put_again(buf, w)) {
                    let start = buf.len();
                    AnnotationRef { call, note, names }.append_json(buf)?;
                    if let Some(w) = written.get_mut(s) {
                        *w = start..buf.len();
                    }
                }
            }
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"sdp\":");
        m.extra.sdp.as_ref().map(sdp_json).append_json(buf)?;
        buf.extend_from_slice(b",\"anomalies\":");
        m.extra.anomalies.append_json(buf)?;
        buf.extend_from_slice(b",\"flags\":");
        FlagNames(m.flags).append_json(buf)?;
        buf.extend_from_slice(b",\"size\":");
        m.size.append_json(buf)?;
        buf.extend_from_slice(b",\"user_agent\":");
        m.user_agent.append_json(buf)?;
        buf.extend_from_slice(b",\"server\":");
        m.server.append_json(buf)?;
        buf.extend_from_slice(b",\"contact\":");
        m.extra.contact.append_json(buf)?;
        buf.extend_from_slice(b",\"reason_header\":");
        m.extra.reason_header.append_json(buf)?;
        buf.extend_from_slice(b",\"warning\":");
        m.extra.warning.append_json(buf)?;
        buf.extend_from_slice(b",\"retry_after\":");
        m.extra.retry_after.append_json(buf)?;
        buf.extend_from_slice(b",\"expires\":");
        m.extra.expires.append_json(buf)?;
        buf.extend_from_slice(b",\"content_type\":");
        m.extra.content_type.append_json(buf)?;
        buf.extend_from_slice(b",\"max_forwards\":");
        m.extra.max_forwards.append_json(buf)?;
        buf.extend_from_slice(b",\"has_credentials\":");
        m.has_credentials.append_json(buf)?;
        buf.extend_from_slice(b",\"has_challenge\":");
        m.has_challenge.append_json(buf)?;
        if self.ctx.raw {
            buf.extend_from_slice(b",\"raw\":");
            RawText(m.extra.raw.as_deref().unwrap_or_default()).append_json(buf)?;
        }
        buf.push(b'}');
        Ok(())
    }
}

/// Writes `p` as its [`PartyJson`] serialises it; the display name, most often absent, is
/// written without looking at it.
fn put_party(buf: &mut JsonBuf, p: &Party, n: &PartyName) -> serde_json::Result<()> {
    if n.display.is_empty() {
        buf.extend_from_slice(b"{\"display\":\"\",\"uri\":");
    } else {
        buf.extend_from_slice(b"{\"display\":");
        n.display.append_json(buf)?;
        buf.extend_from_slice(b",\"uri\":");
    }
    n.uri.append_json(buf)?;
    buf.extend_from_slice(b",\"user\":");
    p.user.append_json(buf)?;
    buf.extend_from_slice(b",\"tag\":");
    p.tag.append_json(buf)?;
    buf.push(b'}');
    Ok(())
}

/// The message times of a call, written as [`Rfc3339Micros`] writes them. A call's messages
/// often fall in one second: a time in the second of the one before keeps its date and
/// clock, only its microseconds are written.
#[derive(Debug, Default)]
pub(super) struct Clock {
    /// The second (since the epoch) of the last time written, and its text.
    last: Option<(i64, [u8; 27])>,
}

impl Clock {
    pub(super) fn put(&mut self, buf: &mut JsonBuf, ns: i64) -> serde_json::Result<()> {
        const NS_PER_S: i64 = 1_000_000_000;
        let secs = ns.div_euclid(NS_PER_S);
        let text = match self.last {
            Some((last, mut text)) if last == secs => {
                // 0..=999_999: six digits after the dot.
                let mut micros = ns.rem_euclid(NS_PER_S) / 1000;
                for d in text.iter_mut().skip(20).take(6).rev() {
                    // micros % 10 is 0..=9: the cast cannot truncate.
                    *d = b'0' + (micros % 10) as u8;
                    micros /= 10;
                }
                text
            }
            _ => match rfc3339_micros_bytes(ns) {
                Some(text) => {
                    self.last = Some((secs, text));
                    text
                }
                None => return Rfc3339Micros(ns).append_json(buf),
            },
        };
        // Digits, `-`, `:`, `.`, `T` and `Z` only.
        put_quoted_plain(buf, &text);
        Ok(())
    }
}

/// Appends again the bytes `span` of `buf` (written earlier in the same call), through a
/// buffer kept by the thread. False, having written nothing, when the span is not in `buf`.
fn put_again(buf: &mut JsonBuf, span: Range<usize>) -> bool {
    thread_local! {
        static COPY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    COPY.with(|copy| {
        // Never busy: nothing here copies inside a copy.
        let (Ok(mut copy), Some(bytes)) = (copy.try_borrow_mut(), buf.as_bytes().get(span)) else {
            return false;
        };
        copy.clear();
        copy.extend_from_slice(bytes);
        buf.extend_from_slice(&copy);
        true
    })
}

impl Serialize for CallJson<'_> {
    /// The reference form: every field in order, the lists collected first.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("CallJson", 27)?;
        o.serialize_field("schema_version", &self.schema_version)?;
        o.serialize_field("call_id", &self.call_id)?;
        o.serialize_field("start_time", &self.start_time)?;
        o.serialize_field("start_epoch_us", &self.start_epoch_us)?;
        o.serialize_field("end_time", &self.end_time)?;
        o.serialize_field("end_epoch_us", &self.end_epoch_us)?;
        o.serialize_field("duration_us", &self.duration_us)?;
        o.serialize_field("answered_time", &self.answered_time)?;
        o.serialize_field("ended_time", &self.ended_time)?;
        o.serialize_field("state", &self.state)?;
        o.serialize_field("outcome", &self.outcome)?;
        o.serialize_field("failed", &self.failed)?;
        o.serialize_field("final_code", &self.final_code)?;
        o.serialize_field("final_reason", &self.final_reason)?;
        o.serialize_field("final_generated_by", &self.final_generated_by)?;
        o.serialize_field("first_method", &self.first_method)?;
        o.serialize_field("from_user", &self.from_user)?;
        o.serialize_field("to_user", &self.to_user)?;
        o.serialize_field("message_count", &self.message_count)?;
        o.serialize_field("related_call_ids", &self.related_call_ids)?;
        o.serialize_field("notes", &self.notes)?;
        o.serialize_field("participants", &self.participants().collect::<Vec<_>>())?;
        o.serialize_field("dialogs", &self.dialogs().collect::<Vec<_>>())?;
        o.serialize_field("transactions", &self.transactions().collect::<Vec<_>>())?;
        o.serialize_field("messages", &self.messages().collect::<Vec<_>>())?;
        o.serialize_field("diagnosis", &self.diagnosis)?;
        o.serialize_field("streams", &self.streams)?;
        o.end()
    }
}

impl<'a> CallJson<'a> {
    /// Builds the export of one call.
    pub fn build(call: &'a Call, ctx: &'a ExportContext) -> CallJson<'a> {
        Self::build_with_media(call, ctx, None)
    }

    /// Builds the call's object with its RTP streams and the media findings of its diagnosis
    /// (media analysed), or without (`None`: `streams` is null).
    pub fn build_with_media(
        call: &'a Call,
        ctx: &'a ExportContext,
        media: Option<&ExportMedia<'a>>,
    ) -> CallJson<'a> {
        let s = &call.summary;
        let mine: Option<Vec<&'a StreamReport>> = media.map(|m| m.capture.of_call(call));
        let diagnosis = match (media, &mine) {
            (Some(m), Some(mine)) => diagnose::diagnose_with_media(
                call,
                &diagnose::MediaView {
                    streams: mine,
                    capture: m.capture,
                    capture_end_ns: m.capture_end_ns,
                },
            ),
            _ => diagnose::diagnose(call),
        };
        // Every message names its sender and receiver: label each host once.
        let names = HostNames::of(call);
        let annotations = annotations(call);
        let final_generated_by = s
            .final_step
            .and_then(|st| annotations.get(st))
            .and_then(|a| a.as_ref())
            .and_then(|a| a.generated_by)
            .map(|h| names.label(h));
        CallJson {
            schema_version: SCHEMA_VERSION,
            call_id: &call.call_id,
            start_time: Rfc3339Micros(s.start_ns),
            start_epoch_us: epoch_us(s.start_ns),
            end_time: Rfc3339Micros(s.end_ns),
            end_epoch_us: epoch_us(s.end_ns),
            duration_us: epoch_us(s.duration_ns),
            answered_time: s.answered_ns.map(Rfc3339Micros),
            ended_time: s.ended_ns.map(Rfc3339Micros),
            state: state_name(s.state),
            outcome: diagnosis.outcome.as_str(),
            failed: s.failed,
            final_code: s.final_code,
            final_reason: s.final_reason.as_deref(),
            final_generated_by,
            first_method: &s.first_method,
            from_user: &s.from_user,
            to_user: &s.to_user,
            message_count: s.message_count,
            related_call_ids: &call.related,
            notes: &call.notes,
            call,
            ctx,
            names,
            annotations,
            diagnosis: CallDiagnosis { call, diagnosis },
            streams: mine.map(|v| {
                v.into_iter()
                    .map(|s| StreamJson::of(s, Some(call)))
                    .collect()
            }),
        }
    }

    /// The call's hosts, as written.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantJson<'_>> + '_ {
        let names = &self.names;
        self.call
            .hosts
            .iter()
            .enumerate()
            .map(move |(i, h)| participant(i, h, names))
    }

    /// The call's dialogs, as written.
    pub fn dialogs(&self) -> impl Iterator<Item = DialogJson<'_>> + '_ {
        let call = self.call;
        call.dialogs
            .iter()
            .enumerate()
            .map(move |(i, d)| dialog_json(call, i, d))
    }

    /// The call's transactions, as written.
    pub fn transactions(&self) -> impl Iterator<Item = TransactionJson<'_>> + '_ {
        let (call, names) = (self.call, &self.names);
        call.transactions
            .iter()
            .map(move |t| transaction_json(call, t, names))
    }

    /// Every message of the call, as written.
    pub fn messages(&self) -> impl Iterator<Item = MessageJson<'_>> + '_ {
        let (call, names, notes, ctx) = (self.call, &self.names, &self.annotations[..], self.ctx);
        call.messages
            .iter()
            .enumerate()
            .map(move |(i, m)| message_json(call, i, m, call.info.get(i), notes, names, ctx))
    }
}
