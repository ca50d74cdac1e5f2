//! RTCP compound packets (RFC 3550 section 6): validation and the parts sipscope reports.
//!
//! Owns: [`validate_compound`] (the content test: version 2, packet types 200-207, every length
//! field consistent and the lengths adding up to the datagram), and [`for_each_item`], which
//! walks a valid compound and hands out sender info (SR), report blocks (SR and RR) and BYE
//! sources without allocating. Other packet types (SDES, APP, feedback, XR) are counted only.

/// RTCP packet types this module names.
pub const SR: u8 = 200;
pub const RR: u8 = 201;
pub const SDES: u8 = 202;
pub const BYE: u8 = 203;
pub const APP: u8 = 204;

/// The sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp, seconds since 1900 and fraction.
    pub ntp_seconds: u32,
    pub ntp_fraction: u32,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// One reception report block (of an SR or RR) about the source `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24 bits: duplicates can make it negative).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

/// One thing found in a compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpItem {
    /// An SR from `ssrc`.
    Sender { ssrc: u32, info: SenderInfo },
    /// A report block sent by `reporter` (in an SR or RR).
    Block {
        reporter: u32,
        from_sr: bool,
        block: ReportBlock,
    },
    /// A BYE for `ssrc`.
    Bye { ssrc: u32 },
    /// A packet of another type (SDES, APP, RTPFB, PSFB, XR).
    Other { packet_type: u8 },
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits a compound into its packets: (count field, packet type, whole packet with header).
/// Stops with `None` on the first inconsistency.
fn packets(data: &[u8]) -> impl Iterator<Item = Option<(u8, u8, &[u8])>> {
    let mut rest = data;
    let mut failed = false;
    std::iter::from_fn(move || {
        if rest.is_empty() || failed {
            return None;
        }
        let parsed = (|| {
            let h = rest.get(..4)?;
            if h[0] >> 6 != 2 || !(200..=207).contains(&h[1]) {
                return None;
            }
            let words = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let len = (words + 1) * 4;
            let pkt = rest.get(..len)?;
            let padded = h[0] & 0x20 != 0;
            // Padding is only allowed on the last packet of a compound.
            if padded && len != rest.len() {
                return None;
            }
            rest = rest.get(len..)?;
            Some((h[0] & 0x1f, h[1], pkt))
        })();
        if parsed.is_none() {
            failed = true;
        }
        Some(parsed)
    })
}

/// Whether `data` is a well-formed RTCP compound packet; returns the number of packets in it.
pub fn validate_compound(data: &[u8]) -> Option<usize> {
    if data.len() < 8 {
        return None;
    }
    let mut n = 0usize;
    for p in packets(data) {
        let (count, pt, pkt) = p?;
        // SR/RR must hold the report blocks their count announces.
        let need = match pt {
            SR => 28 + 24 * usize::from(count),
            RR => 8 + 24 * usize::from(count),
            _ => 4,
        };
        if pkt.len() < need {
            return None;
        }
        n += 1;
    }
    (n > 0).then_some(n)
}

/// Walks a compound already accepted by [`validate_compound`], handing each item to `f`.
pub fn for_each_item(data: &[u8], f: &mut dyn FnMut(RtcpItem)) {
    for (count, pt, pkt) in packets(data).map_while(|p| p) {
        match pt {
            SR | RR => {
                let Some(reporter) = be32(pkt, 4) else {
                    continue;
                };
                let mut at = 8;
                if pt == SR {
                    let info = (|| {
                        Some(SenderInfo {
                            ntp_seconds: be32(pkt, 8)?,
                            ntp_fraction: be32(pkt, 12)?,
                            rtp_timestamp: be32(pkt, 16)?,
                            packet_count: be32(pkt, 20)?,
                            octet_count: be32(pkt, 24)?,
                        })
                    })();
                    let Some(info) = info else { continue };
                    f(RtcpItem::Sender {
                        ssrc: reporter,
                        info,
                    });
                    at = 28;
                }
                for _ in 0..count {
                    let Some(block) = read_block(pkt, at) else {
                        break;
                    };
                    f(RtcpItem::Block {
                        reporter,
                        from_sr: pt == SR,
                        block,
                    });
                    at += 24;
                }
            }
            BYE => {
                for i in 0..usize::from(count) {
                    match be32(pkt, 4 + 4 * i) {
                        Some(ssrc) => f(RtcpItem::Bye { ssrc }),
                        None => break,
                    }
                }
            }
            _ => f(RtcpItem::Other { packet_type: pt }),
        }
    }
}

fn read_block(pkt: &[u8], at: usize) -> Option<ReportBlock> {
    let ssrc = be32(pkt, at)?;
    let loss = be32(pkt, at + 4)?;
    // The low 24 bits are a two's-complement count: shift up and back down to sign-extend.
    let cumulative_lost = ((loss << 8) as i32) >> 8;
    Some(ReportBlock {
        ssrc,
        fraction_lost: (loss >> 24) as u8,
        cumulative_lost,
        extended_highest_seq: be32(pkt, at + 8)?,
        jitter: be32(pkt, at + 12)?,
        last_sr: be32(pkt, at + 16)?,
        delay_since_last_sr: be32(pkt, at + 20)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an RR from `reporter` with the given blocks
    /// (ssrc, fraction, cumulative, highest, jitter).
    pub(crate) fn rr(reporter: u32, blocks: &[(u32, u8, i32, u32, u32)]) -> Vec<u8> {
        let mut v = vec![0x80 | blocks.len() as u8, RR];
        let words = 1 + 6 * blocks.len();
        v.extend_from_slice(&(words as u16).to_be_bytes());
        v.extend_from_slice(&reporter.to_be_bytes());
        for &(ssrc, frac, cum, high, jit) in blocks {
            v.extend_from_slice(&ssrc.to_be_bytes());
            let loss = (u32::from(frac) << 24) | ((cum as u32) & 0x00ff_ffff);
            v.extend_from_slice(&loss.to_be_bytes());
            v.extend_from_slice(&high.to_be_bytes());
            v.extend_from_slice(&jit.to_be_bytes());
            v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            v.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        v
    }

    pub(crate) fn sdes(ssrc: u32) -> Vec<u8> {
        // One chunk: SSRC, CNAME "ab", end, padded to a word.
        let mut v = vec![0x81, SDES, 0, 3];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[1, 2, b'a', b'b']);
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    }

    fn items(d: &[u8]) -> Vec<RtcpItem> {
        let mut out = Vec::new();
        for_each_item(d, &mut |i| out.push(i));
        out
    }

    #[test]
    fn receiver_report_blocks_are_read_with_signed_loss() {
        let mut d = rr(0x1111, &[(0xabcd, 64, -3, 70_000, 160)]);
        d.extend(sdes(0x1111));
        assert_eq!(validate_compound(&d), Some(2));
        let it = items(&d);
        assert_eq!(it.len(), 2);
        match it[0] {
            RtcpItem::Block {
                reporter,
                from_sr,
                block,
            } => {
                assert_eq!(reporter, 0x1111);
                assert!(!from_sr);
                assert_eq!(block.ssrc, 0xabcd);
                assert_eq!(block.fraction_lost, 64);
                assert_eq!(block.cumulative_lost, -3);
                assert_eq!(block.extended_highest_seq, 70_000);
                assert_eq!(block.jitter, 160);
            }
            ref other => panic!("unexpected {other:?}"),
        }
        assert_eq!(it[1], RtcpItem::Other { packet_type: SDES });
    }

    #[test]
    fn sender_report_gives_sender_info_then_blocks() {
        let mut d = vec![0x81, SR, 0, 12];
        for w in [7u32, 1, 2, 3, 4, 5] {
            d.extend_from_slice(&w.to_be_bytes());
        }
        let blocks = rr(0, &[(9, 0, 5, 100, 8)]);
        d.extend_from_slice(&blocks[8..]);
        assert_eq!(validate_compound(&d), Some(1));
        let it = items(&d);
        assert_eq!(
            it[0],
            RtcpItem::Sender {
                ssrc: 7,
                info: SenderInfo {
                    ntp_seconds: 1,
                    ntp_fraction: 2,
                    rtp_timestamp: 3,
                    packet_count: 4,
                    octet_count: 5
                }
            }
        );
        assert!(
            matches!(it[1], RtcpItem::Block { reporter: 7, from_sr: true, block } if block.cumulative_lost == 5)
        );
    }

    #[test]
    fn inconsistent_lengths_are_not_rtcp() {
        let d = rr(1, &[(2, 0, 0, 0, 0)]);
        // One byte short, one byte too many, block count larger than the length.
        assert_eq!(validate_compound(&d[..d.len() - 1]), None);
        let mut longer = d.clone();
        longer.push(0);
        assert_eq!(validate_compound(&longer), None);
        let mut lying = d.clone();
        lying[0] = 0x82;
        assert_eq!(validate_compound(&lying), None);
        let mut v1 = d;
        v1[0] = 0x41;
        assert_eq!(validate_compound(&v1), None);
        assert_eq!(validate_compound(&[]), None);
    }
}
