#!/usr/bin/env python3
"""Builds a large capture WITH RTP by replicating one recorded call (stdlib only).

The shared generator (../shared/bench/gen_sip_pcap.py) writes SIP only. Media analysis at
scale (streams matched to calls, per-call media findings) needs RTP, so this script takes one
bundled call with its RTP (samples/answered-call-rtp.pcap by default) and writes COPIES of it,
each copy on its own pair of IPv4 addresses (in the IP headers and in the SIP/SDP text, so the
Call-ID, Via, Contact and c= lines differ per copy), with its own RTP SSRCs, starting
INTERVAL seconds after the previous copy. Deterministic: the same arguments give the same file.

Only Ethernet/IPv4/UDP captures whose two hosts' dotted addresses are 11 characters long
(like 127.0.0.191) are supported: each copy's addresses (10.A.B.C) have the same length, so
no length field changes. UDP checksums are cleared (0 means "none" in IPv4).

Usage: scripts/replicate_call.py --copies 6700 --out /tmp/rtp_1G.pcap [--interval 0.05]
"""

import argparse
import struct
import sys


def ip_bytes(text):
    return bytes(int(p) for p in text.split("."))


def ipv4_checksum(header):
    total = 0
    for i in range(0, len(header), 2):
        total += (header[i] << 8) + header[i + 1]
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def copy_addresses(k):
    """Two distinct 11-character addresses for copy k (10.100-255.10-99.1-8)."""
    x = 100 + k % 156
    y = 10 + (k // 156) % 90
    pair = (k // (156 * 90)) % 4
    if k >= 156 * 90 * 4:
        sys.exit("too many copies (at most 56160)")
    return f"10.{x}.{y}.{2 * pair + 1}", f"10.{x}.{y}.{2 * pair + 2}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="samples/answered-call-rtp.pcap")
    ap.add_argument("--copies", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between copies")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    data = open(a.input, "rb").read()
    magic, = struct.unpack("<I", data[:4])
    if magic != 0xA1B2C3D4:
        sys.exit("needs a little-endian microsecond pcap")
    linktype, = struct.unpack("<I", data[20:24])
    if linktype != 1:
        sys.exit("needs an Ethernet capture")
    records = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        records.append((sec * 1_000_000 + usec, data[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    hosts = []
    for _, pkt, _ in records:
        if len(pkt) >= 34 and pkt[12:14] == b"\x08\x00":
            for h in (pkt[26:30], pkt[30:34]):
                t = ".".join(str(b) for b in h)
                if t not in hosts:
                    hosts.append(t)
    if len(hosts) != 2 or any(len(h) != 11 for h in hosts):
        sys.exit(f"needs exactly two hosts with 11-character addresses, found {hosts}")
    base = records[0][0]

    with open(a.out, "wb") as out:
        out.write(data[:24])
        # Copies overlap in time: merge them by timestamp as a capture would.
        events = []
        for k in range(a.copies):
            shift = int(round(k * a.interval * 1_000_000))
            for n, (ts, _, _) in enumerate(records):
                events.append((ts - base + shift, k, n))
        events.sort()
        cache = {}
        for ts, k, n in events:
            new = cache.get(k)
            if new is None:
                new = dict(zip(hosts, copy_addresses(k)))
                cache.clear()
                cache[k] = new
            _, pkt, orig = records[n]
            pkt = bytearray(pkt)
            text_map = [(h.encode(), v.encode()) for h, v in new.items()]
            ihl = (pkt[14] & 0x0F) * 4
            for field in (26, 30):
                t = ".".join(str(b) for b in pkt[field:field + 4])
                pkt[field:field + 4] = ip_bytes(new[t])
            pkt[24:26] = b"\x00\x00"
            pkt[24:26] = struct.pack(">H", ipv4_checksum(bytes(pkt[14:14 + ihl])))
            udp = 14 + ihl
            if pkt[23] == 17 and len(pkt) >= udp + 8:
                pkt[udp + 6:udp + 8] = b"\x00\x00"
                payload = bytes(pkt[udp + 8:])
                if len(payload) >= 12 and payload[0] >> 6 == 2 and not (200 <= payload[1] <= 207):
                    ssrc, = struct.unpack(">I", payload[8:12])
                    ssrc ^= (k * 2654435761) & 0xFFFFFFFF
                    payload = payload[:8] + struct.pack(">I", ssrc) + payload[12:]
                else:
                    for old, rep in text_map:
                        payload = payload.replace(old, rep)
                pkt[udp + 8:] = payload
            t = base + ts
            out.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(pkt), orig))
            out.write(pkt)


if __name__ == "__main__":
    main()
