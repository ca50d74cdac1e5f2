#!/usr/bin/env python3
"""Writes a SIP scanner flood: N unanswered OPTIONS, each with its own Call-ID (stdlib only).

What a carrier's capture holds when a scanner (sipvicious and the like) sweeps a PBX: a
million calls of one message each, none of them ever answered. It measures how sipscope's
streaming commands cope with millions of distinct Call-IDs (calls that will never "look
over" by their answers). One OPTIONS per millisecond over UDP/IPv4 on Ethernet; about 410
bytes per frame (a million messages: 412 MB). Deterministic.

Usage: scripts/gen_flood.py --messages 1000000 --out /tmp/flood_1M.pcap
"""

import argparse
import struct


def checksum(header):
    total = sum((header[i] << 8) + header[i + 1] for i in range(0, len(header), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    src, dst = bytes([10, 9, 0, 1]), bytes([10, 0, 0, 2])
    eth = b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00"
    with open(a.out, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(a.messages):
            call_id = f"{i:08x}a1b2c3d4e5f6{(i * 2654435761) & 0xFFFFFFFF:08x}"
            sip = (
                f"OPTIONS sip:100@10.0.0.2 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 10.9.0.1:5070;branch=z9hG4bK-{i}\r\n"
                f'From: "sipvicious"<sip:100@1.1.1.1>;tag={i:x}\r\n'
                f'To: "sipvicious"<sip:100@1.1.1.1>\r\n'
                f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
                f"Contact: <sip:100@10.9.0.1:5070>\r\nMax-Forwards: 70\r\n"
                f"User-Agent: friendly-scanner\r\nAccept: application/sdp\r\n"
                f"Content-Length: 0\r\n\r\n"
            ).encode()
            udp = struct.pack(">HHHH", 5070, 5060, 8 + len(sip), 0) + sip
            ip = bytearray(
                struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src, dst)
            )
            ip[10:12] = struct.pack(">H", checksum(bytes(ip)))
            pkt = eth + bytes(ip) + udp
            t = 1_700_000_000_000_000 + i * 1000
            out.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(pkt), len(pkt)))
            out.write(pkt)


if __name__ == "__main__":
    main()
