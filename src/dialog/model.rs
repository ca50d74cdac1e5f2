//! The public shape of an analysed call: what a VoIP engineer reads off a trace.
//!
//! A [`Call`] owns its messages (`Call::messages`, in time order) and describes them in layers:
//! every message is one sighting ([`MsgInfo`]) of a [`Step`] (the same request or response, seen
//! on one or several legs: its [`Hop`]s); steps belong to an end-to-end [`Transaction`] (which
//! lists its per-leg RFC 3261 transactions as [`Leg`]s); transactions belong to a [`Dialog`] or
//! stand alone; every address is a [`Host`] with an inferred [`Role`]. All cross references are
//! plain indices into the vectors of the same `Call`, so the model is cheap to clone, trivially
//! shareable between threads, and free of lifetimes.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::msg::{Msg, Text};

/// Index into [`Call::messages`] (and the parallel [`Call::info`]).
pub type MsgIdx = usize;
/// Index into [`Call::steps`].
pub type StepIdx = usize;
/// Index into [`Call::transactions`].
pub type TxIdx = usize;
/// Index into [`Call::dialogs`].
pub type DialogIdx = usize;
/// Index into [`Call::hosts`].
pub type HostIdx = usize;

/// Everything known about one Call-ID (the unit users list and pick).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The Call-ID; empty for a message that carried none (such a message is a call of its own,
    /// see [`analyze_all`](super::analyze_all)).
    pub call_id: super::CallId,
    /// The messages, ordered by capture time (then file and frame number).
    pub messages: Vec<Msg>,
    /// Per message, parallel to `messages`: where it fits.
    pub info: Vec<MsgInfo>,
    /// Distinct requests and responses, ordered by their first sighting.
    pub steps: Vec<Step>,
    /// End-to-end transactions, ordered by their first sighting.
    pub transactions: Vec<Transaction>,
    /// Dialogs (Call-ID + both tags), ordered by creation.
    pub dialogs: Vec<Dialog>,
    /// Addresses taking part, ordered by first appearance.
    pub hosts: Vec<Host>,
    /// What the list view shows.
    pub summary: Summary,
    /// Call-IDs of other calls a B2BUA bridged this one to (whole-file analysis only, see
    /// [`correlate_b2bua`](super::correlate_b2bua)).
    pub related: Vec<String>,
    /// Things the analysis noticed about the input itself (missing CSeq, unreadable start
    /// lines, mixed Call-IDs, ...), in plain words.
    pub notes: Vec<String>,
}

impl Call {
    /// Transactions outside any dialog (REGISTER, OPTIONS, out-of-dialog MESSAGE, a SUBSCRIBE
    /// before its NOTIFY, an INVITE that never got a tagged response).
    pub fn transaction_only(&self) -> impl Iterator<Item = TxIdx> + '_ {
        self.transactions
            .iter()
            .enumerate()
            .filter(|(_, t)| t.dialog.is_none() && t.dialogs.is_empty())
            .map(|(i, _)| i)
    }

    /// The dialogs created by one INVITE transaction: several when it forked.
    pub fn forks_of(&self, tx: TxIdx) -> impl Iterator<Item = DialogIdx> + '_ {
        self.dialogs
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.created_by_tx == Some(tx))
            .map(|(i, _)| i)
    }

    /// Label of a host for display (`10.0.0.1`, or `127.0.0.1:5060` when the call has several
    /// endpoints on one address). Not escaped: addresses are not capture text.
    pub fn host_label(&self, host: HostIdx) -> String {
        self.hosts.get(host).map(Host::label).unwrap_or_default()
    }

    /// [`Call::host_label`] appended to `out` (nothing for an unknown host).
    pub fn write_host_label(&self, out: &mut String, host: HostIdx) {
        if let Some(h) = self.hosts.get(host) {
            write_label(out, h.addr, h.port);
        }
    }

    /// The message a step was first seen in (its first hop's first sighting).
    pub fn first_msg(&self, step: StepIdx) -> Option<&Msg> {
        let s = self.steps.get(step)?;
        let h = s.hops.first()?;
        self.messages.get(h.msg)
    }
}

/// Where one message fits in its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgInfo {
    /// The step it is a sighting of; `None` only when its start line could not be read.
    pub step: Option<StepIdx>,
    /// Index of its hop in `steps[step].hops`.
    pub hop: Option<usize>,
    /// First sighting, retransmission or duplicate capture.
    pub repeat: Repeat,
    /// Sending and receiving host.
    pub src: HostIdx,
    pub dst: HostIdx,
}

/// Whether a message is new on its leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The first sighting of its step on this leg.
    First,
    /// The sender sent it again later (SIP retransmission timers, or a 2xx resent until its
    /// ACK). `of` is the first sighting on the same leg.
    Retransmission { of: MsgIdx },
    /// The same packet captured twice (two interfaces, or two merged files), within a few
    /// milliseconds: not sent twice. `of` is the copy it repeats.
    Duplicate { of: MsgIdx },
}

/// Request or response, as a step is identified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StepKind {
    Request { method: Text },
    Response { code: u16 },
}

/// What a step does in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The request that opened the transaction.
    Request,
    /// A response to it.
    Response,
    /// A CANCEL of an INVITE (hop by hop: each leg sends its own).
    Cancel,
    /// A response to such a CANCEL.
    CancelResponse,
    /// The ACK of a non-2xx final response to an INVITE (hop by hop).
    Ack,
}

/// One request or response, however many legs it crossed and however often it was repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    /// CSeq number and method (0 and the request method when the message had no CSeq).
    pub cseq: u32,
    pub cseq_method: Text,
    pub from_tag: Option<Text>,
    pub to_tag: Option<Text>,
    pub transaction: TxIdx,
    pub part: Part,
    /// Every leg it was seen on. The first hop is where it came from: for a request the
    /// shallowest (fewest Vias: the originator), for a response the deepest (the host that
    /// generated it); ties go to the earlier sighting. The rest follow in path order. Nearly
    /// every step crosses one or two legs: two hops are kept in the step itself.
    pub hops: smallvec::SmallVec<[Hop; 2]>,
    /// The host that originated the request or generated the response, as far as this capture
    /// shows (the sender of the first hop). `None` for a request whose every sighting carried
    /// more than one Via: a proxy forwarded it and its originator's leg is not in the capture.
    pub generated_by: Option<HostIdx>,
    pub dialog: Option<DialogIdx>,
}

impl Step {
    pub fn is_request(&self) -> bool {
        matches!(self.kind, StepKind::Request { .. })
    }

    pub fn code(&self) -> Option<u16> {
        match self.kind {
            StepKind::Response { code } => Some(code),
            StepKind::Request { .. } => None,
        }
    }

    pub fn method(&self) -> &str {
        match &self.kind {
            StepKind::Request { method } => method,
            StepKind::Response { .. } => &self.cseq_method,
        }
    }

    /// Time of the first sighting (ns).
    pub fn first_ns(&self, call: &Call) -> Option<i64> {
        let first = self.hops.iter().map(|h| h.msg).min()?;
        call.messages.get(first).map(|m| m.frame.ts_ns)
    }
}

/// Whether the sender of a hop made the message or passed it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopOrigin {
    /// Originated (request) or generated (response) by the sender.
    Generated,
    /// Forwarded (proxied) by the sender: it came from another host.
    Forwarded,
}

/// What a host does with one message on one hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// User agent client: it originated the request, or is the final receiver of the response.
    Client,
    /// User agent server: it is the final receiver of the request, or generated the response.
    Server,
    /// It forwards the message to another host.
    Forwarder,
}

impl Acting {
    pub fn as_str(self) -> &'static str {
        match self {
            Acting::Client => "UAC",
            Acting::Server => "UAS",
            Acting::Forwarder => "forwarder",
        }
    }
}

/// A step seen on one leg (sender, receiver, Via depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// First sighting on this leg.
    pub msg: MsgIdx,
    pub src: HostIdx,
    pub dst: HostIdx,
    /// Number of Via values (grows by one per proxy on the way to the UAS).
    pub via_depth: usize,
    pub origin: HopOrigin,
    /// What sender and receiver do with it on this hop.
    pub sender_acts: Acting,
    pub receiver_acts: Acting,
    /// The per-leg RFC 3261 transaction (index into the transaction's `legs`).
    pub leg: Option<usize>,
    /// Later sendings on the same leg, in time order (two fit in the room of a `Vec`).
    pub retransmissions: smallvec::SmallVec<[MsgIdx; 2]>,
    /// Copies of the same packet captured again (other interface or file).
    pub duplicates: smallvec::SmallVec<[MsgIdx; 2]>,
}

/// One client/server transaction on one leg, in the sense of RFC 3261 section 17: identified by
/// the top Via of the request on that leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Top Via branch of the request on this leg (`None` when it had none).
    pub branch: Option<Text>,
    /// Top Via sent-by.
    pub sent_by: Text,
    pub via_depth: usize,
    /// The request's first sighting on this leg.
    pub request: MsgIdx,
    pub client: HostIdx,
    pub server: HostIdx,
}

/// A request and everything that answers it, across all legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The request method (CSeq method); `INVITE` for an INVITE with its CANCELs and ACKs.
    pub method: Text,
    pub cseq: u32,
    /// The request step (`None` when only responses were captured).
    pub request: Option<StepIdx>,
    /// Responses to the request (not to a CANCEL), in order of first sighting (four kept in
    /// place: 100, 180, 200 and one more need no allocation).
    pub responses: smallvec::SmallVec<[StepIdx; 4]>,
    /// The response that decided it: the first 2xx; else the first final that reached the
    /// originator's leg; else the first final seen.
    pub final_response: Option<StepIdx>,
    /// CANCEL requests and the responses to them (two fit in the room of a `Vec`).
    pub cancels: smallvec::SmallVec<[StepIdx; 2]>,
    /// ACKs of a non-2xx final response.
    pub acks: smallvec::SmallVec<[StepIdx; 2]>,
    /// The per-leg RFC 3261 transactions of the request (one or two legs, nearly always: kept
    /// in place).
    pub legs: smallvec::SmallVec<[Leg; 2]>,
    /// The request carried a To tag: it was sent inside a dialog.
    pub in_dialog: bool,
    /// Matched the RFC 2543 way: the originator's branch lacks the `z9hG4bK` cookie.
    pub rfc2543: bool,
    /// The dialog it belongs to: for an in-dialog request its dialog; for a dialog-creating
    /// INVITE the confirmed dialog (or the first early one).
    pub dialog: Option<DialogIdx>,
    /// Every dialog it created (several when it forked).
    pub dialogs: smallvec::SmallVec<[DialogIdx; 2]>,
}

/// Where a dialog stands at the end of the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Only provisional responses created it.
    Early,
    /// A 2xx confirmed it (or it was seen in use without its start).
    Confirmed,
    /// A BYE ended it, or its INVITE failed while it was early.
    Terminated,
}

/// Call-ID + From tag + To tag. Tags are oriented as in the request that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Tag of the side that sent the creating request.
    pub local_tag: Text,
    /// Tag of the side that answered.
    pub remote_tag: Text,
    pub state: DialogState,
    /// The response (or in-dialog request, for a dialog seen mid-way) that created it.
    pub created_by: StepIdx,
    /// The INVITE transaction that created it; forks share it.
    pub created_by_tx: Option<TxIdx>,
    /// The 2xx that confirmed it.
    pub confirmed_by: Option<StepIdx>,
    /// The BYE that ended it.
    pub ended_by: Option<StepIdx>,
    /// Its transactions, in order (INVITE, ACK and BYE need no allocation).
    pub transactions: smallvec::SmallVec<[TxIdx; 4]>,
    /// True when the capture did not show its creation (first seen through an in-dialog
    /// request).
    pub seen_mid_way: bool,
}

/// What kind of box a host is, for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A user agent whose kind the capture does not tell (phone, softswitch leg, ...).
    UserAgent,
    /// An end-user device (override or hint only: on the wire it is a user agent).
    Phone,
    /// A PSTN gateway (override or hint only).
    Gateway,
    /// Forwards requests adding its Via; may add Record-Route.
    Proxy,
    /// Answers on one leg and originates on another.
    B2bua,
    /// Answers REGISTER.
    Registrar,
    /// Generates 3xx with Contact.
    Redirect,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::UserAgent => "user agent",
            Role::Phone => "phone",
            Role::Gateway => "gateway",
            Role::Proxy => "proxy",
            Role::B2bua => "b2bua",
            Role::Registrar => "registrar",
            Role::Redirect => "redirect server",
        }
    }

    /// Parses an override role (`phone`, `gateway`, `proxy`, `b2bua`, `registrar`; also
    /// `redirect` and `ua`), case-insensitively.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "phone" => Some(Role::Phone),
            "gateway" | "gw" => Some(Role::Gateway),
            "proxy" => Some(Role::Proxy),
            "b2bua" | "pbx" | "sbc" => Some(Role::B2bua),
            "registrar" => Some(Role::Registrar),
            "redirect" => Some(Role::Redirect),
            "ua" | "useragent" | "user-agent" => Some(Role::UserAgent),
            _ => None,
        }
    }
}

/// Why a host has its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSource {
    /// Inferred from what it did on the wire.
    Wire,
    /// A user agent refined by its User-Agent or Server header.
    Hint,
    /// Given by the user (`--role ADDR=ROLE`).
    Override,
}

/// What a host was seen doing in this call (several may be true).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Originated a request.
    pub originated: bool,
    /// Generated a response other than 100 Trying.
    pub answered: bool,
    /// Forwarded a request or a response.
    pub forwarded: bool,
    /// Added a Record-Route while forwarding.
    pub record_routed: bool,
    /// Generated a final response to REGISTER.
    pub registrar: bool,
    /// Generated a 3xx to a request.
    pub redirected: bool,
    /// Received an initial INVITE it did not forward, and originated another initial INVITE.
    pub b2bua: bool,
}

/// One address taking part in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub addr: IpAddr,
    /// Set when the call has several endpoints on this address (everything on 127.0.0.1):
    /// then each address:port is its own host.
    pub port: Option<u16>,
    /// Ports it used, ascending (at most 16 kept). Most hosts use one or two: eight fit in
    /// the list's own room (the size a `Vec` takes), so a host's ports cost no allocation.
    pub ports: smallvec::SmallVec<[u16; 8]>,
    pub role: Role,
    pub role_source: RoleSource,
    pub behaviour: Behaviour,
    /// The role its User-Agent / Server header suggests, if any.
    pub hint: Option<Role>,
    /// Distinct User-Agent values of messages it originated (at most 4 kept; a host nearly
    /// always shows one, kept in place).
    pub user_agents: smallvec::SmallVec<[String; 1]>,
    /// Distinct Server values of responses it generated (at most 4 kept).
    pub servers: smallvec::SmallVec<[String; 1]>,
    /// Messages sent and received (every sighting).
    pub sent: usize,
    pub received: usize,
}

impl Host {
    /// A host as first seen on the wire: a user agent until its behaviour says otherwise, with
    /// nothing counted yet.
    pub fn seen(addr: IpAddr, port: Option<u16>) -> Host {
        Host {
            addr,
            port,
            ports: smallvec::SmallVec::new(),
            role: Role::UserAgent,
            role_source: RoleSource::Wire,
            behaviour: Behaviour::default(),
            hint: None,
            user_agents: smallvec::SmallVec::new(),
            servers: smallvec::SmallVec::new(),
            sent: 0,
            received: 0,
        }
    }

    /// `10.0.0.1`, `127.0.0.1:5060`, `[::1]:5060` (see [`write_label`]).
    pub fn label(&self) -> String {
        let mut s = String::with_capacity(21);
        write_label(&mut s, self.addr, self.port);
        s
    }
}

/// Writes a host's label into `out`: `10.0.0.1`, `127.0.0.1:5060`, `[::1]:5060` (IPv4
/// through [`Ipv4Label`]).
pub fn write_label(out: &mut String, addr: IpAddr, port: Option<u16>) {
    match (addr, port) {
        (IpAddr::V4(a), port) => out.push_str(Ipv4Label::new(a, port).as_str()),
        // Writing into a String cannot fail.
        (a, None) => _ = write!(out, "{a}"),
        (IpAddr::V6(a), Some(p)) => _ = write!(out, "[{a}]:{p}"),
    }
}

/// An IPv4 host's label (`192.0.2.1`, `192.0.2.1:5060`; at most `255.255.255.255:65535`)
/// composed on the stack, as `Display` writes the address and port: the standard formatting
/// (which honours width and padding) took about 1 400 instructions a label, and the call
/// list, `diagnose` and the export write several per call (the export two per message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv4Label {
    bytes: [u8; 21],
    len: u8,
}

impl Ipv4Label {
    /// The text's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots and colons are ever put in.
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `n` in decimal, as `Display` writes it.
    fn push_decimal(&mut self, n: u16) {
        if n >= 10_000 {
            self.push(digit(n / 10_000));
        }
        if n >= 1000 {
            self.push(digit(n / 1000));
        }
        if n >= 100 {
            self.push(digit(n / 100));
        }
        if n >= 10 {
            self.push(digit(n / 10));
        }
        self.push(digit(n));
    }

    pub fn new(a: std::net::Ipv4Addr, port: Option<u16>) -> Ipv4Label {
        // The four octets and three dots (at most 15 bytes) gathered in one integer, each
        // octet's digits taken whole from a table.
        let mut text: u128 = 0;
        let mut len: u32 = 0;
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                text |= u128::from(b'.') << (8 * len);
                len += 1;
            }
            let entry = OCTET_TEXT.get(usize::from(o)).copied().unwrap_or_default();
            text |= u128::from(entry & 0x00ff_ffff) << (8 * len);
            len += entry >> 24;
        }
        let mut t = Ipv4Label::default();
        if let Some(head) = t.bytes.get_mut(..16) {
            head.copy_from_slice(&text.to_le_bytes());
        }
        // At most 15: the cast cannot truncate.
        t.len = len as u8;
        if let Some(p) = port {
            t.push(b':');
            t.push_decimal(p);
        }
        t
    }
}

/// Every octet in decimal as `Display` writes it: the digits packed little-endian in the low
/// three bytes, their count in the top byte.
const OCTET_TEXT: [u32; 256] = octet_table();

const fn octet_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0u32;
    while n < 256 {
        let (hundreds, tens, ones) = (n / 100, n / 10 % 10, n % 10);
        table[n as usize] = if n >= 100 {
            (b'0' as u32 + hundreds)
                | (b'0' as u32 + tens) << 8
                | (b'0' as u32 + ones) << 16
                | 3 << 24
        } else if n >= 10 {
            (b'0' as u32 + tens) | (b'0' as u32 + ones) << 8 | 2 << 24
        } else {
            (b'0' as u32 + ones) | 1 << 24
        };
        n += 1;
    }
    table
}

/// The last decimal digit of `n`.
fn digit(n: u16) -> u8 {
    // n % 10 is 0..=9: the cast cannot truncate.
    b'0' + (n % 10) as u8
}

/// Where a call stands, as the list view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    /// INVITE sent, nothing but 100 Trying back (yet).
    Calling,
    /// A 18x came back, no final response.
    Ringing,
    /// Answered, no BYE seen.
    InCall,
    /// Answered, then a BYE.
    Completed,
    /// CANCELled (or ended with 487).
    Cancelled,
    /// A 4xx/5xx/6xx final response other than the no-answer ones.
    Rejected,
    /// A 3xx final response.
    Redirected,
    /// 408 or 480, or an INVITE retransmitted without any response.
    NoAnswer,
    /// Non-INVITE: a 2xx final response.
    Done,
    /// Non-INVITE: a final response of 300 or more.
    Failed,
    /// Non-INVITE: no final response.
    Unanswered,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Calling => "calling",
            CallState::Ringing => "ringing",
            CallState::InCall => "in call",
            CallState::Completed => "completed",
            CallState::Cancelled => "cancelled",
            CallState::Rejected => "rejected",
            CallState::Redirected => "redirected",
            CallState::NoAnswer => "no answer",
            CallState::Done => "done",
            CallState::Failed => "failed",
            CallState::Unanswered => "unanswered",
        }
    }
}

/// The line a call gets in the list view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// First and last message time (ns since the epoch).
    pub start_ns: i64,
    pub end_ns: i64,
    /// From and To user of the first request (of the first message when no request was seen).
    pub from_user: Text,
    pub to_user: Text,
    /// Method of the first request.
    pub first_method: Text,
    pub state: CallState,
    /// The transaction that decides the outcome: the INVITE that was answered (or the last
    /// out-of-dialog INVITE with a final response, so an auth retry counts), or the last
    /// transaction of the first method with a final response (a REGISTER challenged then
    /// accepted ends 200).
    pub main_transaction: Option<TxIdx>,
    /// Its final response step, code and reason phrase.
    pub final_step: Option<StepIdx>,
    pub final_code: Option<u16>,
    pub final_reason: Option<Text>,
    /// Time of the 2xx that answered the call, and of the BYE that ended it.
    pub answered_ns: Option<i64>,
    pub ended_ns: Option<i64>,
    /// Answered: from the 2xx to the BYE (or the last message). Otherwise first to last
    /// message.
    pub duration_ns: i64,
    /// Every sighting, retransmissions and duplicates included.
    pub message_count: usize,
    /// The outcome is a failure: final code of 300 or more, or an INVITE with no final
    /// response at all.
    pub failed: bool,
}
