//! Listening quality estimate: a simplified E-model (ITU-T G.107) R-factor and its MOS.
//!
//! Owns: [`estimate`]. A capture taken at one point cannot measure mouth-to-ear delay or what a
//! receiver's jitter buffer discards, so the model is fed assumptions, and every estimate
//! carries a sentence saying which ([`MosEstimate::method`]):
//!
//! - R = 93.2 - Id - Ie,eff (G.107 defaults for everything not measured: R0 - Is = 93.2, A = 0).
//! - Id from the simplified delay term `0.024 d + 0.11 (d - 177.3) H(d - 177.3)` where the
//!   one-way delay d = packetization interval (the stream's mean packet spacing, 20 ms when it
//!   is implausible) + codec look-ahead + a jitter buffer sized at twice the largest jitter seen
//!   (between 20 and 500 ms). Network transit is unknown from one capture point and taken as 0.
//! - Ie,eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl): random loss (BurstR = 1), Ppl = packets lost
//!   over packets expected, in percent (duplicates do not offset loss).
//! - Ie and Bpl per codec from ITU-T G.113 appendix I; G.711 assumes packet loss concealment.
//!   Codecs without published values get the G.711 ones, and the method says so.
//! - MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R), 1 below R = 0 and 4.5 above R = 100.

/// Impairment figures of a codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecImpairment {
    pub label: &'static str,
    /// Equipment impairment factor.
    pub ie: f64,
    /// Packet-loss robustness factor.
    pub bpl: f64,
    /// Algorithmic look-ahead delay, ms.
    pub lookahead_ms: f64,
    /// False when the figures are the G.711 stand-in for an unlisted codec.
    pub known: bool,
}

/// Figures for a codec, by SDP encoding name.
pub fn impairment(codec: &str) -> CodecImpairment {
    let c = codec.to_ascii_uppercase();
    let (label, ie, bpl, lookahead_ms) = match c.as_str() {
        "PCMU" | "PCMA" => ("G.711 with PLC", 0.0, 25.1, 0.0),
        "G729" | "G729A" | "G729AB" => ("G.729A", 11.0, 19.0, 5.0),
        "G723" => ("G.723.1 6.3 kbit/s", 15.0, 16.1, 7.5),
        _ => {
            return CodecImpairment {
                label: "G.711 with PLC (stand-in: no G.113 figures for this codec)",
                ie: 0.0,
                bpl: 25.1,
                lookahead_ms: 0.0,
                known: false,
            }
        }
    };
    CodecImpairment {
        label,
        ie,
        bpl,
        lookahead_ms,
        known: true,
    }
}

/// The measured inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MosInput<'a> {
    /// SDP encoding name of the stream's main payload type.
    pub codec: &'a str,
    pub expected: i64,
    pub lost: i64,
    pub mean_delta_ms: f64,
    pub max_jitter_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MosEstimate {
    pub r_factor: f64,
    pub mos: f64,
    /// Assumed one-way delay (ms) that went into Id.
    pub delay_ms: f64,
    /// Effective packet loss (percent) that went into Ie,eff.
    pub loss_percent: f64,
    pub method: String,
}

/// Short name of the method, for a `mos_method` field; the long form is in the module docs.
pub const METHOD: &str = "E-model (ITU-T G.107) simplified";

/// Estimates R and MOS for one stream.
pub fn estimate(input: &MosInput<'_>) -> MosEstimate {
    let codec = impairment(input.codec);
    let loss_percent = if input.expected > 0 {
        (input.lost.max(0) as f64 * 100.0 / input.expected as f64).min(100.0)
    } else {
        0.0
    };
    let packetization = if (5.0..=200.0).contains(&input.mean_delta_ms) {
        input.mean_delta_ms
    } else {
        20.0
    };
    let buffer = (2.0 * input.max_jitter_ms).clamp(20.0, 500.0);
    let delay_ms = packetization + codec.lookahead_ms + buffer;
    let id = 0.024 * delay_ms
        + if delay_ms > 177.3 {
            0.11 * (delay_ms - 177.3)
        } else {
            0.0
        };
    let ie_eff = codec.ie + (95.0 - codec.ie) * loss_percent / (loss_percent + codec.bpl);
    let r_factor = 93.2 - id - ie_eff;
    let method = format!(
        "{METHOD}: R = 93.2 - Id - Ie,eff; codec {} (Ie {}, Bpl {}); one-way delay {:.1} ms \
         assumed = packetization {:.1} + look-ahead {} + jitter buffer {:.1} (2 x max jitter, \
         20..500), network transit unknown (0); random loss {:.2}%; MOS from R per G.107 annex B",
        codec.label,
        codec.ie,
        codec.bpl,
        delay_ms,
        packetization,
        codec.lookahead_ms,
        buffer,
        loss_percent
    );
    MosEstimate {
        r_factor,
        mos: mos_from_r(r_factor),
        delay_ms,
        loss_percent,
        method,
    }
}

/// G.107 conversion from R to MOS (conversational quality estimate).
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7.0e-6 * r * (r - 60.0) * (100.0 - r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(codec: &str, expected: i64, lost: i64, jitter: f64) -> MosInput<'_> {
        MosInput {
            codec,
            expected,
            lost,
            mean_delta_ms: 20.0,
            max_jitter_ms: jitter,
        }
    }

    #[test]
    fn r_to_mos_matches_known_points() {
        // R 93.2 is the G.107 default, known to give MOS 4.41.
        assert!((mos_from_r(93.2) - 4.41).abs() < 0.01);
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        // R = 50: 1 + 1.75 + 7e-6*50*(-10)*50
        assert!((mos_from_r(50.0) - (1.0 + 1.75 - 0.175)).abs() < 1e-9);
    }

    #[test]
    fn clean_g711_stream_is_excellent_and_loss_hurts() {
        let clean = estimate(&input("PCMU", 1000, 0, 2.0));
        // delay = 20 + 0 + 20 = 40 ms: Id = 0.96.
        assert!((clean.delay_ms - 40.0).abs() < 1e-9);
        assert!((clean.r_factor - (93.2 - 0.96)).abs() < 1e-9);
        assert!(clean.mos > 4.3);
        let lossy = estimate(&input("PCMU", 1000, 50, 2.0));
        // Ie,eff = 95 * 5 / 30.1
        assert!((lossy.r_factor - (93.2 - 0.96 - 95.0 * 5.0 / 30.1)).abs() < 1e-9);
        assert!(lossy.mos < clean.mos);
        assert!(lossy.method.starts_with(METHOD));
    }

    #[test]
    fn g729_costs_more_than_g711_and_unknown_codec_says_so() {
        let g729 = estimate(&input("G729", 100, 0, 0.0));
        assert!(g729.r_factor < 93.2 - 11.0 + 0.01);
        let odd = estimate(&input("BV32", 100, 0, 0.0));
        assert!(odd.method.contains("stand-in"));
        // Negative loss (duplicates) counts as none; huge jitter pushes delay past 177.3 ms.
        let dup = estimate(&input("PCMA", 100, -4, 200.0));
        assert_eq!(dup.loss_percent, 0.0);
        assert!((dup.delay_ms - (20.0 + 400.0)).abs() < 1e-9);
        assert!(dup.r_factor < 93.2 - 0.024 * 420.0);
    }
}
