#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds (the corpus is gitignored; run this once after a clone).
#   capture_reader, pipeline: the captures of samples/ and $SIPSCOPE_CORPUS (default
#     /work/shared/corpus), cut to their first 16 KiB (fuzzing large inputs is slow and the
#     interesting parts are the headers and first records); for pipeline also as pcap bodies.
#   commands: the same seeds as pipeline (the same input layout).
#   sip_parse: SIP messages cut out of those captures' bytes by start line.
#   tcp_reassembly: a few SIP streams split into segments in the target's input layout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src_dirs=("$here/../samples" "${SIPSCOPE_CORPUS:-/work/shared/corpus}")
out="$here/corpus"
mkdir -p "$out"/{capture_reader,commands,pipeline,sip_parse,tcp_reassembly}

python3 - "$out" "${src_dirs[@]}" <<'PY'
import hashlib, os, re, struct, sys

out, dirs = sys.argv[1], sys.argv[2:]
HEAD = 16 * 1024

def put(target, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

caps = []
for d in dirs:
    if not os.path.isdir(d):
        continue
    for root, _, files in os.walk(d):
        for fn in sorted(files):
            if fn.endswith((".pcap", ".pcapng", ".cap", ".pcap.gz")):
                caps.append(os.path.join(root, fn))

start = re.compile(
    rb"(?:(?:INVITE|ACK|BYE|CANCEL|REGISTER|OPTIONS|PRACK|SUBSCRIBE|NOTIFY|PUBLISH|INFO|REFER"
    rb"|MESSAGE|UPDATE) [!-~]+ SIP/2\.0\r?\n|SIP/2\.0 [1-6]\d\d [^\r\n]*\r?\n)")
sip = set()
for path in caps:
    raw = open(path, "rb").read()
    head = raw[:HEAD]
    put("capture_reader", head)
    put("pipeline", head)
    # As a pcap body for the target's prepended header: link type index 0 is Ethernet.
    if raw[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack("<I", raw[20:24])[0] == 1:
        put("pipeline", b"\x00" + raw[24:HEAD])
    hits = [m.start() for m in start.finditer(raw)]
    for i, s in enumerate(hits):
        e = hits[i + 1] if i + 1 < len(hits) else len(raw)
        msg = raw[s:min(e, s + 4096)]
        # Stop at the end of the body Content-Length announces (packet trailers follow).
        m = re.search(rb"\r?\n(?:Content-Length|l)[ \t]*:[ \t]*(\d+)", msg, re.I)
        hdr_end = msg.find(b"\r\n\r\n")
        if m and hdr_end >= 0:
            msg = msg[:hdr_end + 4 + int(m.group(1))]
        sip.add(msg)
for m in sorted(sip)[:2000]:
    put("sip_parse", m)

def req(method, cid, cseq, body=b""):
    return (b"%s sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK%d\r\n"
            b"From: <sip:alice@192.0.2.1>;tag=a\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: %s\r\n"
            b"CSeq: %d %s\r\nContent-Length: %d\r\n\r\n%s"
            % (method, cseq, cid, cseq, method, len(body), body))

sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
streams = [
    req(b"INVITE", b"c1", 1, sdp) + req(b"ACK", b"c1", 1) + req(b"BYE", b"c1", 2),
    req(b"REGISTER", b"r1", 1) + b"\r\n\r\n" + req(b"OPTIONS", b"o1", 7),
    b"garbage before\r\n" + req(b"INVITE", b"c2", 5, sdp),
]
for si, stream in enumerate(streams):
    for mode, cuts in ((0, 3), (1, 5), (2, 9)):
        step = max(1, len(stream) // cuts)
        ops = []
        offs = list(range(0, len(stream), step))
        if mode:
            offs = offs[::-1] + offs[:2]  # reversed, then duplicates
        for n, off in enumerate(offs):
            flags = 0x01 if (mode == 1 and n == 0) else 0
            ops.append(struct.pack(">BHHB", flags, off, step, si % 3))
        data = bytes([mode, 0xff, 0xff, 0xff, 0x00, len(ops)]) + b"".join(ops) + stream
        put("tcp_reassembly", data)
PY
cp "$out"/pipeline/* "$out"/commands/
for t in capture_reader commands pipeline sip_parse tcp_reassembly; do
    echo "$t: $(ls "$out/$t" | wc -l) seeds"
done
