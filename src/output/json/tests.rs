//! The fast serializer against serde_json with the same formatter: byte for byte.

use super::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// What serde_json itself writes.
fn reference<T: Serialize + ?Sized>(value: &T) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, TerminalSafe);
    value.serialize(&mut ser).map_err(|e| e.to_string())?;
    Ok(out)
}

/// What this module writes, through a writer and into a buffer (which must agree).
fn fast<T: Serialize + ?Sized>(value: &T) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let dynamic: &mut dyn Write = &mut out;
    let through_writer = write_value(dynamic, value).map_err(|e| e.to_string());
    let mut buf = b"kept ".to_vec();
    let appended = append_value(&mut buf, value).map_err(|e| e.to_string());
    assert_eq!(through_writer.is_ok(), appended.is_ok());
    let mut chunked = Vec::new();
    let through_chunks = write_chunked(&mut chunked, value).map_err(|e| e.to_string());
    assert_eq!(through_writer.is_ok(), through_chunks.is_ok());
    if through_chunks.is_ok() {
        assert_eq!(chunked, out);
    }
    if appended.is_ok() {
        assert_eq!(buf.get(5..), Some(out.as_slice()));
    }
    through_writer.map(|()| out)
}

#[track_caller]
fn same<T: Serialize + ?Sized>(value: &T) {
    let want = reference(value);
    assert!(want.is_ok(), "serde_json refused the test value");
    assert_eq!(
        fast(value).map(|v| String::from_utf8_lossy(&v).into_owned()),
        want.map(|v| String::from_utf8_lossy(&v).into_owned())
    );
}

/// Strings a capture can carry, most of them needing some escape.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "plain ascii sip:bob@example.com;tag=1",
        "quote \" inside",
        "back\\slash",
        "\\\"",
        "tab\tnew\nline\rcr",
        "\u{8}\u{c}\u{0}\u{1f}",
        "del\u{7f}",
        "c1 \u{80}\u{9b}\u{9f}",
        "bidi \u{202e}evil\u{202c} \u{2066}x\u{2069}",
        "zero\u{200b}width\u{200d}\u{200f}",
        "caf\u{e9} \u{fffd} \u{1f600}",
        "\u{1b}]0;title\u{7}\u{1b}[2J",
        "~ last printable",
        "looks like \\u0041 an escape",
        "\u{2028}\u{2029} line separators",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every single character around the interesting ranges, alone and inside longer text
    // (the check works on blocks of 32 bytes).
    for c in (0u32..0x300)
        .chain(0x2000..0x2080)
        .filter_map(char::from_u32)
    {
        v.push(c.to_string());
        v.push(format!("{}{c}{}", "a".repeat(31), "b".repeat(40)));
    }
    v.push("x".repeat(100));
    v
}

#[test]
fn strings_match_serde_json() {
    for s in hostile() {
        same(&s);
        same(&Some(s.as_str()));
        same(&[s.as_str(), "ok"]);
    }
}

#[test]
fn plain_check_is_exact_at_every_length_and_position() {
    for len in 1..80 {
        for pos in 0..len {
            for b in 0u8..=255 {
                let mut text = vec![b'a'; len];
                if let Some(slot) = text.get_mut(pos) {
                    *slot = b;
                }
                let plain = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
                assert_eq!(is_plain(&text), plain, "byte {b:#x} at {pos} of {len}");
            }
        }
    }
    assert!(is_plain(b""));
}

#[test]
fn plain_check_is_exact() {
    for b in 0u8..=255 {
        let plain = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
        assert_eq!(is_plain(&[b]), plain, "byte {b:#x}");
        let mut long = vec![b'a'; 70];
        long[45] = b;
        assert_eq!(is_plain(&long), plain, "byte {b:#x} at 45");
    }
}

#[derive(Serialize)]
struct Party<'a> {
    display: &'a str,
    tag: Option<&'a str>,
}

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(u32),
    Tuple(i8, String),
    Struct { a: bool, b: Option<f64> },
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Wrapper(String);

#[derive(Serialize)]
struct Pair(u8, &'static str);

#[derive(Serialize)]
struct Inner {
    x: i64,
    #[serde(rename = "where \"q\"")]
    y: u16,
}

#[derive(Serialize)]
struct Outer<'a> {
    name: &'a str,
    #[serde(flatten)]
    inner: Inner,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    parties: Vec<Party<'a>>,
    shapes: Vec<Shape>,
    unit: (),
    unit_struct: Unit,
    wrapper: Wrapper,
    pair: Pair,
    tuple: (u8, char, f32),
    floats: [f64; 5],
    bytes: &'a serde_bytes_like::Bytes,
    empty: Vec<u8>,
    empty_map: BTreeMap<String, u8>,
    by_name: BTreeMap<&'a str, Vec<u64>>,
    by_number: BTreeMap<u16, &'a str>,
    by_signed: BTreeMap<i64, bool>,
    by_char: BTreeMap<char, u8>,
    by_wrapper: BTreeMap<WrapperKey, u8>,
    extremes: (i128, u128, i64, u64),
    shown: Shown,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct WrapperKey(String);

/// A value written through `collect_str`.
struct Shown(&'static str);

impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("shown {} \u{202e}", self.0))
    }
}

mod serde_bytes_like {
    /// Bytes serialised with `serialize_bytes`.
    pub struct Bytes(pub [u8; 4]);

    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
}

#[test]
fn every_shape_matches_serde_json() {
    let strings = hostile();
    let bytes = serde_bytes_like::Bytes([0, 1, 127, 255]);
    let value = Outer {
        name: "call \"1\"\u{7f}",
        inner: Inner { x: -42, y: 7 },
        skipped: None,
        parties: strings
            .iter()
            .map(|s| Party {
                display: s,
                tag: Some(s),
            })
            .collect(),
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(9),
            Shape::Tuple(-1, "t\u{9b}".into()),
            Shape::Struct {
                a: true,
                b: Some(f64::NAN),
            },
            Shape::Struct { a: false, b: None },
        ],
        unit: (),
        unit_struct: Unit,
        wrapper: Wrapper("w\\".into()),
        pair: Pair(1, "p"),
        tuple: (255, '\u{85}', 1.5),
        floats: [0.1, -0.0, 1e300, f64::INFINITY, 12345.678],
        bytes: &bytes,
        empty: vec![],
        empty_map: BTreeMap::new(),
        by_name: strings
            .iter()
            .take(20)
            .map(|s| (s.as_str(), vec![1, 2]))
            .collect(),
        by_number: [(0, "zero"), (65535, "max\n")].into_iter().collect(),
        by_signed: [(-5, true), (i64::MAX, false)].into_iter().collect(),
        by_char: [('a', 1), ('\u{7f}', 2), ('"', 3)].into_iter().collect(),
        by_wrapper: [(WrapperKey("k\u{200e}".into()), 4)].into_iter().collect(),
        extremes: (i128::MIN, u128::MAX, i64::MIN, u64::MAX),
        shown: Shown("it"),
    };
    same(&value);
}

#[test]
fn refused_keys_are_refused_like_serde_json() {
    let mut map = BTreeMap::new();
    map.insert(vec![1u8], 1u8);
    assert!(reference(&map).is_err());
    assert!(fast(&map).is_err());
    let mut opt = BTreeMap::new();
    opt.insert(Some(1u8), 1u8);
    assert_eq!(fast(&opt).is_err(), reference(&opt).is_err());
    if let (Ok(a), Ok(b)) = (fast(&opt), reference(&opt)) {
        assert_eq!(a, b);
    }
}

/// A value larger than the chunk size goes out whole and in order.
#[test]
fn large_values_go_out_in_chunks_unchanged() {
    let strings: Vec<String> = (0..20_000)
        .map(|i| format!("value {i} \u{202e}\"{}", "x".repeat(i % 50)))
        .collect();
    assert!(reference(&strings).is_ok_and(|r| r.len() > 3 * CHUNK));
    same(&strings);
}

/// Values written by hand ([`AppendJson`]) are the bytes serde_json writes for them.
#[test]
fn hand_written_values_match_serde_json() {
    #[track_caller]
    fn check<T: AppendJson + Serialize + ?Sized>(value: &T) {
        let mut buf = JsonBuf::with_capacity(5);
        buf.extend_from_slice(b"kept");
        value.append_json(&mut buf).unwrap();
        let ours = buf.as_bytes();
        assert_eq!(ours.get(..4), Some(&b"kept"[..]));
        let want = reference(value).unwrap();
        assert_eq!(
            String::from_utf8_lossy(ours.get(4..).unwrap_or_default()),
            String::from_utf8_lossy(&want)
        );
    }
    let mut unsigned = vec![0u64, u64::MAX, u64::from(u32::MAX), 1 << 63];
    let mut p = 1u64;
    while let Some(next) = p.checked_mul(10) {
        unsigned.extend([p - 1, p, p + 1, next / 2]);
        p = next;
    }
    for &n in &unsigned {
        check(&n);
        check(&usize::try_from(n).unwrap_or(usize::MAX));
        check(&(n as i64));
        check(&i64::try_from(n).map(|i| -i).unwrap_or(i64::MIN));
    }
    for n in [0u16, 9, 10, 99, 100, 5060, u16::MAX] {
        check(&n);
        check(&u32::from(n));
        check(&Some(n));
    }
    check(&u8::MAX);
    check(&i64::MIN);
    check(&i64::MAX);
    check(&None::<u16>);
    check(&true);
    check(&false);
    for s in hostile() {
        check(s.as_str());
        check(&s);
        check(&Some(s.as_str()));
        check(&compact_str::CompactString::from(s.as_str()));
    }
    check(&hostile());
    check(&Vec::<String>::new());
    check(&[Some(1u32), None][..]);
}

/// The fused check-and-copy writes `"text"` exactly when `is_plain` says so, and nothing
/// otherwise, at every length (each copy path and their edges) and with a bad byte anywhere;
/// what was written before stays, including when the storage has to grow.
#[test]
fn put_plain_matches_the_check_then_copy() {
    for len in 0..80 {
        for pos in 0..len.max(1) {
            for b in [
                b'a', b' ', b'~', 0x1f, 0x7f, 0x80, 0xc3, 0xff, b'"', b'\\', 0, b'\n',
            ] {
                // Distinct bytes, so a piece copied to the wrong place shows.
                let mut text: Vec<u8> = (0..len).map(|i| b'0' + (i % 40) as u8).collect();
                if let Some(slot) = text.get_mut(pos) {
                    *slot = b;
                }
                for capacity in [0, 3, len + 5, 4096] {
                    let mut buf = JsonBuf::with_capacity(capacity);
                    buf.extend_from_slice(b"kept");
                    let wrote = buf.put_plain(&text);
                    assert_eq!(wrote, is_plain(&text), "byte {b:#x} at {pos} of {len}");
                    let mut want = b"kept".to_vec();
                    if wrote {
                        want.push(b'"');
                        want.extend_from_slice(&text);
                        want.push(b'"');
                    }
                    assert_eq!(
                        buf.as_bytes(),
                        want.as_slice(),
                        "byte {b:#x} at {pos} of {len}"
                    );
                    // The next write lands right after, over whatever a refused copy left.
                    buf.extend_from_slice(b"!");
                    want.push(b'!');
                    assert_eq!(buf.as_bytes(), want.as_slice());
                }
            }
        }
    }
}
