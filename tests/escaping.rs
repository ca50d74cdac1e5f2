//! Text from a capture never reaches the terminal unescaped: every command and output format,
//! run on a capture (and a file name) stuffed with control characters, escape sequences and
//! bidi marks in every field a command shows, prints none of them raw, on stdout or stderr.

mod common;

use common::*;
use sipscope::capture::linktype;
use sipscope::capture::writer::pcap_bytes;

/// What a capture may try on a terminal: escape sequences (clear screen, set the title),
/// bell, backspace, carriage return, a C1 control, a bidi override.
const EVIL: &str = "\x1b[2J\x1b]0;pwned\x07\x08\r\u{9b}31m\u{202e}";

fn evil(label: &str) -> String {
    format!("{label}{EVIL}end")
}

/// An INVITE (with SDP) answered 486 through a proxy, a REGISTER, an OPTIONS, a broken
/// message and a TCP message: hostile bytes in the Call-ID, From/To display names and users,
/// User-Agent/Server, Via branch and host, Contact, Reason, Warning, reason phrases, SDP
/// session name, origin, codec names and connection address, method and unknown headers.
fn hostile_capture() -> Vec<u8> {
    let a = v4(192, 0, 2, 1);
    let p = v4(192, 0, 2, 5);
    let b = v4(192, 0, 2, 2);
    let cid = evil("cid");
    let sdp = format!(
        "v=0\r\no={o} 1 1 IN IP4 192.0.2.1\r\ns={s}\r\nc=IN IP4 {c}\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 {codec}/8000\r\n\
         a=sendrecv\r\n",
        o = evil("origin"),
        s = evil("session"),
        c = evil("10.0.0."),
        codec = evil("codec"),
    );
    let invite = |hop: &str| {
        format!(
            "INVITE sip:{to}@192.0.2.2 SIP/2.0\r\n{hop}\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\n\
             From: \"{fromname}\" <sip:{from}@192.0.2.1>;tag=a1\r\n\
             To: \"{toname}\" <sip:{to}@192.0.2.2>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{contact}@192.0.2.1:5060>\r\n\
             User-Agent: {ua}\r\n\
             Subject: {subject}\r\n\
             X-Evil: {x}\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            to = evil("bob"),
            branch = evil("br"),
            fromname = evil("Alice"),
            from = evil("alice"),
            toname = evil("Bob"),
            contact = evil("contact"),
            ua = evil("phone"),
            subject = evil("subject"),
            x = evil("x"),
            len = sdp.len(),
        )
        .into_bytes()
    };
    let busy = |hop: &str| {
        format!(
            "SIP/2.0 486 {reason}\r\n{hop}\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{branch}\r\n\
             From: \"{fromname}\" <sip:{from}@192.0.2.1>;tag=a1\r\n\
             To: <sip:{to}@192.0.2.2>;tag={totag}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 INVITE\r\n\
             Server: {server}\r\n\
             Reason: Q.850;cause=17;text=\"{rtext}\"\r\n\
             Warning: 399 {wagent} \"{wtext}\"\r\n\
             Retry-After: 30 ({ra})\r\n\
             Content-Length: 0\r\n\r\n",
            reason = evil("Busy"),
            branch = evil("br"),
            fromname = evil("Alice"),
            from = evil("alice"),
            to = evil("bob"),
            totag = evil("tag"),
            server = evil("gateway"),
            rtext = evil("user busy"),
            wagent = evil("agent"),
            wtext = evil("warning"),
            ra = evil("later"),
        )
        .into_bytes()
    };
    let proxy_via = format!(
        "Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKpx{}\r\n",
        EVIL
    );
    let register = format!(
        "REGISTER sip:{d} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKreg\r\n\
         From: <sip:{u}@example.com>;tag=r1\r\nTo: <sip:{u}@example.com>\r\n\
         Call-ID: {rc}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
        d = evil("domain"),
        u = evil("user"),
        rc = evil("reg"),
    );
    let broken = format!(
        "{m} sip:x SIP/2.0\r\nCall-ID: {c}\r\n{h}: value\r\nCSeq: one {m}\r\nContent-Length: 99\r\n\r\nbody{e}",
        m = evil("METHOD"),
        c = evil("broken"),
        h = evil("Header"),
        e = EVIL,
    );
    let options_tcp = request("OPTIONS", &evil("tcp"), 1, "");
    let t0 = 1_700_000_000_000_000_000i64;
    let ms = 1_000_000i64;
    pcap_bytes(
        linktype::ETHERNET,
        &[
            (t0, eth_udp4(a, 5060, p, 5060, &invite(""))),
            (t0 + ms, eth_udp4(p, 5060, b, 5060, &invite(&proxy_via))),
            (t0 + 40 * ms, eth_udp4(b, 5060, p, 5060, &busy(&proxy_via))),
            (t0 + 41 * ms, eth_udp4(p, 5060, a, 5060, &busy(""))),
            (
                t0 + 50 * ms,
                eth_udp4(a, 5060, p, 5060, register.as_bytes()),
            ),
            (t0 + 60 * ms, eth_udp4(a, 5060, b, 5060, broken.as_bytes())),
            (
                t0 + 70 * ms,
                eth_tcp4(a, 40000, b, 5060, 1000, PSH | ACK, &options_tcp),
            ),
            // A datagram that is not SIP, with escapes of its own.
            (t0 + 80 * ms, eth_udp4(a, 9, b, 9, EVIL.as_bytes())),
        ],
    )
}

/// The first character a terminal would act on: any control character but the line feed, and
/// the bidi controls that reorder text.
fn raw_control(s: &str) -> Option<(usize, char)> {
    s.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// `s` without the colour codes sipscope writes itself (`ESC [ digits;... m`) when asked for
/// colour. Nothing else is taken out: a capture's `ESC [2J` or `ESC ]0;` still counts.
fn without_own_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let params = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(tail.len());
        if tail[params..].starts_with('m') {
            rest = &tail[params + 1..];
        } else {
            out.push('\x1b');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn check(what: &str, bytes: &[u8], colour: bool) {
    let s = String::from_utf8_lossy(bytes);
    let s = if colour {
        without_own_colours(&s).into()
    } else {
        s
    };
    if let Some((at, c)) = raw_control(&s) {
        let from = s[..at].char_indices().rev().nth(60).map_or(0, |(i, _)| i);
        panic!("{what}: raw {c:?} at byte {at}, after {:?}", &s[from..at]);
    }
}

#[test]
fn no_command_prints_a_raw_control_character_from_the_capture() {
    // The file name is hostile too: it is printed in warnings and headings.
    // It also ends inside a record, so a warning names it.
    let mut bytes = hostile_capture();
    bytes.extend_from_slice(&[0x55; 7]);
    let file = TempFile::new("evil\x1b[31m\x07name.pcap", &bytes);
    let f = file.path();
    let runs: &[&[&str]] = &[
        &["stats", f],
        &["stats", "--json", f],
        &["calls", f],
        &["calls", "--json", f],
        &["calls", "--failed", f],
        &[f],
        &["diagnose", f],
        &["diagnose", "--json", f],
        &["ladder", f, "--color", "always"],
        &["ladder", f, "--color", "never", "--width", "60"],
        &["ladder", f, "--index", "2"],
        &["ladder", f, "--format", "mermaid"],
        &["ladder", f, "--format", "svg"],
        &["export", "--format", "json", f],
        &["export", "--format", "ndjson", f],
        &["media", f],
        &["media", "--json", f],
        &["calls", "--call-id", "\x1b[2J", f],
        &["ladder", "--from", "alice", f],
    ];
    let mut shown = 0;
    for args in runs {
        let out = sipscope(args);
        let what = format!("sipscope {}", args.join(" ").escape_debug());
        assert!(
            out.status.code().is_some_and(|c| c == 0 || c == 2),
            "{what}: {:?}",
            out.status
        );
        let colour = args.contains(&"always");
        check(&format!("{what} (stdout)"), &out.stdout, colour);
        check(&format!("{what} (stderr)"), &out.stderr, false);
        // The hostile text is shown (escaped), not dropped: this test would pass vacuously
        // on empty output otherwise.
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("pwned") {
            shown += 1;
        }
    }
    // Every command that shows message text shows the hostile strings somewhere.
    assert!(shown >= 10, "hostile text shown by only {shown} runs");
    // The warning about the hostile file name names it, escaped.
    let out = sipscope(&["stats", f]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("evil\\x1b[31m\\x07name.pcap"), "{err}");
}
