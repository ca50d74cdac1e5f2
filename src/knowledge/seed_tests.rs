//! Checks the knowledge tables against the seed documents they were built from: every code the
//! seeds list is in the table with the right class, every table code is in the seeds, the
//! per-role facts agree with the Cisco tables cell by cell, every operator reason phrase has a
//! hint, and no description copies seed text.
//!
//! The seeds are found through `SIPSCOPE_SEEDS`, then `<manifest>/../shared/seeds`, then
//! `/work/shared/seeds`. Without them these tests print a loud line and pass.

use super::codes::{all, lookup, RoleFacts, Tri};
use super::hints::{class_hint, hint, hints_for};
use super::methods::{method_info, methods};
use super::q850::q850_cause;
use super::Role;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

struct Seeds {
    /// (file name, text), sorted by name.
    files: Vec<(String, String)>,
}

impl Seeds {
    fn load() -> Option<Seeds> {
        let mut candidates = Vec::new();
        if let Some(p) = std::env::var_os("SIPSCOPE_SEEDS") {
            let p = PathBuf::from(p);
            if !p.is_dir() {
                println!(
                    "SIPSCOPE_SEEDS={} is not a directory; trying the defaults",
                    p.display()
                );
            }
            candidates.push(p);
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds"));
        candidates.push(PathBuf::from("/work/shared/seeds"));
        Seeds::load_from(&candidates)
    }

    /// The first existing directory of `candidates`, read; `None` (said loudly) if none exists.
    fn load_from(candidates: &[PathBuf]) -> Option<Seeds> {
        let Some(dir) = candidates.iter().find(|p| p.is_dir()) else {
            println!("!!!!!!!! SEEDS NOT FOUND: test not run !!!!!!!!");
            return None;
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).expect("seed dir readable") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "txt") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("seed is UTF-8 text");
                files.push((name, text));
            }
        }
        files.sort();
        assert!(
            files.len() >= 5,
            "expected five seed files in {}",
            dir.display()
        );
        Some(Seeds { files })
    }

    /// The seed whose file name starts with `prefix` ("000_" ...).
    fn get(&self, prefix: &str) -> &str {
        self.files
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no seed {prefix}*"))
    }
}

// ---------------------------------------------------------------- scanning code lists

/// A three-digit number standing alone at `i` (no digit, letter or address punctuation
/// glued to its left, no digit to its right).
fn code_token_at(chars: &[char], i: usize) -> Option<u16> {
    let digits = chars.get(i..i + 3)?;
    if !digits.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if chars.get(i + 3).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    if i > 0 {
        let before = chars.get(i - 1)?;
        if !(before.is_whitespace() || matches!(before, '*' | '«' | '|')) {
            return None;
        }
    }
    digits.iter().collect::<String>().parse().ok()
}

/// Codes named in the code lists of a seed: a standalone three-digit number followed by a
/// reason phrase (a capitalised word, perhaps after a table bar), or a line that holds only
/// the number (tables with one cell per line). Skipped: the Warning-code list, the
/// `cause=` parameter list, and operator rows (`SIP/2.0 NNN ...`, checked against the hints).
fn listed_codes(text: &str) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    let mut in_warnings = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.contains("List of warn-code") {
            in_warnings = true;
            continue;
        }
        if in_warnings {
            in_warnings = !line.starts_with("Warning:");
            continue;
        }
        if line.starts_with(';') || line.starts_with("SIP/2.0 ") {
            continue;
        }
        if line.len() == 3 && line.bytes().all(|b| b.is_ascii_digit()) {
            out.insert(line.parse().unwrap());
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        for i in 0..chars.len() {
            let Some(code) = code_token_at(&chars, i) else {
                continue;
            };
            // Then: a space, maybe "| ", then a capitalised word that is not a method
            // (so "CSeq: 102 INVITE" is not taken for a status code).
            let rest: String = chars[i + 3..].iter().collect();
            let Some(rest) = rest.strip_prefix(' ') else {
                continue;
            };
            let rest = rest.strip_prefix("| ").unwrap_or(rest);
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            let capitalised = word.chars().next().is_some_and(|c| c.is_ascii_uppercase());
            if capitalised && method_info(&word).is_none() {
                out.insert(code);
            }
        }
    }
    out
}

fn first_digit_class(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx provisional",
        2 => "2xx success",
        3 => "3xx redirection",
        4 => "4xx client failure",
        5 => "5xx server failure",
        6 => "6xx global failure",
        7 => "7xx non-standard",
        _ => "?",
    }
}

fn all_listed(seeds: &Seeds) -> BTreeSet<u16> {
    seeds
        .files
        .iter()
        .flat_map(|(_, t)| listed_codes(t))
        .collect()
}

#[test]
fn every_listed_code_is_in_the_table_with_its_class() {
    let Some(seeds) = Seeds::load() else { return };
    let listed = all_listed(&seeds);
    // A sanity floor, so a broken scanner cannot pass by finding nothing.
    assert!(listed.len() >= 70, "scanner found only {listed:?}");
    for code in [
        199, 204, 417, 425, 428, 429, 430, 433, 469, 470, 494, 555, 580, 607, 608, 701,
    ] {
        assert!(listed.contains(&code), "scanner missed {code}");
    }
    let mut missing = Vec::new();
    for &code in &listed {
        match lookup(code) {
            None => missing.push(code),
            Some(info) => assert_eq!(info.class.label(), first_digit_class(code), "{code}"),
        }
    }
    assert!(
        missing.is_empty(),
        "codes in the seeds but not in the table: {missing:?}"
    );
}

#[test]
fn every_table_code_comes_from_the_seeds() {
    let Some(seeds) = Seeds::load() else { return };
    let listed = all_listed(&seeds);
    let invented: Vec<u16> = all()
        .iter()
        .map(|c| c.code)
        .filter(|c| !listed.contains(c))
        .collect();
    assert!(
        invented.is_empty(),
        "table codes no seed lists: {invented:?}"
    );
}

#[test]
fn default_reason_phrases_appear_in_the_seeds() {
    let Some(seeds) = Seeds::load() else { return };
    // Table layouts differ: drop markdown stars and cell bars before searching.
    let haystack: String = seeds
        .files
        .iter()
        .map(|(_, t)| t.to_lowercase().replace('*', "").replace(" | ", " "))
        .collect::<Vec<_>>()
        .join("\n");
    for c in all() {
        let needle = format!("{} {}", c.code, c.reason.to_lowercase());
        assert!(haystack.contains(&needle), "no seed says {needle:?}");
    }
}

#[test]
fn historic_and_stack_codes_are_marked() {
    let Some(seeds) = Seeds::load() else { return };
    let compendium = seeds.get("003_");
    // The compendium names RFC 2543 as the only source of 409 and 411.
    assert!(compendium.contains("RFC 2543"));
    for code in [409, 411] {
        let info = lookup(code).unwrap();
        assert_eq!(info.rfc, "RFC 2543");
        assert_eq!(info.standing, super::Standing::Historic);
    }
    assert!(compendium.contains("7xx"));
    assert_eq!(
        lookup(701).unwrap().standing,
        super::Standing::StackSpecific
    );
}

// ---------------------------------------------------------------- the Cisco tables

/// One response of the Cisco SIP chapter: the text of its phone, gateway and proxy cells.
struct ChapterRow {
    phone: String,
    gateway: String,
    proxy: String,
}

fn is_row_header(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    let digits = b.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || b.get(3) != Some(&b' ') || line.len() > 60 {
        return None;
    }
    line.get(..3)?.parse().ok()
}

fn finish_row(cur: Option<(u16, Vec<String>)>, rows: &mut BTreeMap<u16, ChapterRow>) {
    if let Some((code, cells)) = cur {
        assert!(cells.len() >= 4, "{code}: only {} cells", cells.len());
        let proxy = cells[3..].join("\n");
        let (phone, gateway) = (cells[1].clone(), cells[2].clone());
        rows.insert(
            code,
            ChapterRow {
                phone,
                gateway,
                proxy,
            },
        );
    }
}

/// The chapter puts one cell per run of lines, cells separated by lines holding only "|":
/// header + description, phone, gateway, proxy (the proxy cell may trail extra notes).
fn parse_chapter(text: &str) -> BTreeMap<u16, ChapterRow> {
    let mut rows = BTreeMap::new();
    let mut current: Option<(u16, Vec<String>)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(code) = is_row_header(line) {
            finish_row(current.take(), &mut rows);
            current = Some((code, vec![String::new()]));
            continue;
        }
        if line.len() > 2 && line.as_bytes().get(1..3) == Some(b"xx") {
            // Class heading: ends the row before it.
            finish_row(current.take(), &mut rows);
            continue;
        }
        let Some((_, cells)) = current.as_mut() else {
            continue;
        };
        if line == "|" {
            cells.push(String::new());
        } else if let Some(cell) = cells.last_mut() {
            cell.push_str(line);
            cell.push('\n');
        }
    }
    finish_row(current.take(), &mut rows);
    rows
}

/// One row of the Cisco SPS table: its "Supported?" and "action" cells, merged cells
/// carried down to the rows they span.
struct SpsRow {
    supported: Tri,
    action: String,
}

fn parse_sps(text: &str) -> BTreeMap<u16, SpsRow> {
    let mut raw_rows: Vec<(u16, Vec<String>)> = Vec::new();
    let mut started = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.len() == 3 && line.bytes().all(|b| b.is_ascii_digit()) {
            raw_rows.push((line.parse().unwrap(), Vec::new()));
            started = true;
            continue;
        }
        if line.as_bytes().get(1..3) == Some(b"xx") {
            // Section heading: merged cells never cross it.
            raw_rows.push((0, Vec::new()));
            continue;
        }
        if !started || line == "|" || line.is_empty() {
            continue;
        }
        if let Some((_, fields)) = raw_rows.last_mut() {
            fields.push(line.to_string());
        }
    }
    let mut out = BTreeMap::new();
    let (mut supported, mut action) = (Tri::NotSaid, String::new());
    for (code, fields) in raw_rows {
        if code == 0 {
            (supported, action) = (Tri::NotSaid, String::new());
            continue;
        }
        // fields: reason, meaning, then optionally supported and/or action.
        for f in fields.iter().skip(2) {
            match f.as_str() {
                "Yes" => supported = Tri::Yes,
                "No" => supported = Tri::No,
                s if s.starts_with("See Cisco SPS action") => supported = Tri::NotSaid,
                s => action = s.to_string(),
            }
        }
        out.insert(
            code,
            SpsRow {
                supported,
                action: action.clone(),
            },
        );
    }
    out
}

fn generates_in(cell: &str) -> Tri {
    let cell = cell.to_lowercase();
    if cell.contains("does not generate") {
        Tri::No
    } else if cell.contains("generate") {
        Tri::Yes
    } else {
        Tri::NotSaid
    }
}

fn proxy_forwards_in_chapter(cell: &str) -> Tri {
    let cell = cell.to_lowercase();
    if cell.contains("does not proxy") {
        Tri::No
    } else if cell.contains("proxies") || cell.contains("or proxy") {
        Tri::Yes
    } else {
        Tri::NotSaid
    }
}

fn forwards_in_sps(action: &str) -> Tri {
    if action.to_lowercase().contains("forwards") {
        Tri::Yes
    } else {
        Tri::NotSaid
    }
}

/// Two sources together: any yes wins, then any no.
fn either(a: Tri, b: Tri) -> Tri {
    if a == Tri::Yes || b == Tri::Yes {
        Tri::Yes
    } else if a == Tri::No || b == Tri::No {
        Tri::No
    } else {
        Tri::NotSaid
    }
}

fn says_on_receipt(cell: &str) -> bool {
    cell.to_lowercase().contains("upon receiving")
}

#[test]
fn phone_and_gateway_facts_match_the_cisco_chapter() {
    let Some(seeds) = Seeds::load() else { return };
    let chapter = parse_chapter(seeds.get("000_"));
    assert!(chapter.len() >= 44, "parsed only {} rows", chapter.len());
    for (code, row) in &chapter {
        let info = lookup(*code).unwrap_or_else(|| panic!("{code} missing"));
        for (role, cell, facts) in [
            (Role::Phone, &row.phone, &info.phone),
            (Role::Gateway, &row.gateway, &info.gateway),
        ] {
            assert_eq!(
                facts.generates,
                generates_in(cell),
                "{code} {role:?} generates: {cell}"
            );
            assert_eq!(
                facts.on_receipt.is_some(),
                says_on_receipt(cell),
                "{code} {role:?} on receipt: {cell}"
            );
            // The chapter never speaks of phones or gateways relaying a response.
            assert_eq!(facts.forwards, Tri::NotSaid, "{code} {role:?}");
        }
    }
}

#[test]
fn proxy_facts_match_both_cisco_tables() {
    let Some(seeds) = Seeds::load() else { return };
    let chapter = parse_chapter(seeds.get("000_"));
    let sps = parse_sps(seeds.get("001_"));
    assert!(sps.len() >= 45, "parsed only {} SPS rows", sps.len());
    for info in all() {
        let cell = chapter
            .get(&info.code)
            .map(|r| r.proxy.as_str())
            .unwrap_or("");
        let (supported, action) = sps
            .get(&info.code)
            .map(|r| (r.supported, r.action.as_str()))
            .unwrap_or((Tri::NotSaid, ""));
        let generates = either(generates_in(cell), generates_in(action));
        let forwards = either(proxy_forwards_in_chapter(cell), forwards_in_sps(action));
        let code = info.code;
        assert_eq!(
            info.proxy.generates, generates,
            "{code} generates: {cell} / {action}"
        );
        assert_eq!(
            info.proxy.forwards, forwards,
            "{code} forwards: {cell} / {action}"
        );
        assert_eq!(info.proxy_supported, supported, "{code} supported");
        if says_on_receipt(action) {
            assert!(
                info.proxy.on_receipt.is_some(),
                "{code}: SPS states receipt behaviour"
            );
        }
    }
}

#[test]
fn codes_the_cisco_tables_skip_carry_no_role_facts() {
    let Some(seeds) = Seeds::load() else { return };
    let chapter = parse_chapter(seeds.get("000_"));
    let sps = parse_sps(seeds.get("001_"));
    for info in all() {
        if !chapter.contains_key(&info.code) {
            assert_eq!(info.phone, RoleFacts::NOT_SAID, "{}", info.code);
            assert_eq!(info.gateway, RoleFacts::NOT_SAID, "{}", info.code);
        }
        if !chapter.contains_key(&info.code) && !sps.contains_key(&info.code) {
            assert_eq!(info.proxy, RoleFacts::NOT_SAID, "{}", info.code);
            assert_eq!(info.proxy_supported, Tri::NotSaid, "{}", info.code);
        }
    }
}

#[test]
fn spot_checks_486_and_302() {
    let Some(seeds) = Seeds::load() else { return };
    let chapter = parse_chapter(seeds.get("000_"));
    let sps = parse_sps(seeds.get("001_"));

    let busy = chapter.get(&486).expect("486 in the chapter");
    let info = lookup(486).unwrap();
    assert!(busy.phone.contains("off hook") && busy.phone.contains("busy tone"));
    assert_eq!(info.phone.generates, Tri::Yes);
    assert!(info.phone.note.is_some_and(|n| n.contains("off hook")));
    assert!(info
        .phone
        .on_receipt
        .is_some_and(|r| r.contains("busy tone")));
    assert!(busy.gateway.contains("graceful call disconnect"));
    assert_eq!(info.gateway.generates, Tri::Yes);
    assert!(info
        .gateway
        .on_receipt
        .is_some_and(|r| r.contains("orderly")));

    let moved = sps.get(&302).expect("302 in the SPS table");
    assert!(moved.action.contains("redirect mode") && moved.action.contains("registration"));
    let info = lookup(302).unwrap();
    let note = info.proxy.note.expect("302 proxy note");
    assert!(
        note.contains("Redirect mode") && note.contains("registration"),
        "{note}"
    );
    assert_eq!(info.phone.generates, Tri::No);
    assert!(info.phone.on_receipt.is_some_and(|r| r.contains("Contact")));

    // 380: the chapter says the proxy does not relay it; the SPS marks it unsupported.
    let alt = lookup(380).unwrap();
    assert_eq!(alt.proxy.forwards, Tri::No);
    assert_eq!(alt.proxy_supported, Tri::No);
}

// ---------------------------------------------------------------- operator phrases

/// `SIP/2.0 NNN phrase` rows of the operator lists (recognised by Cyrillic text on the row
/// or the line after it): (code, phrase, whether the row itself carries an explanation).
fn operator_rows(text: &str) -> Vec<(u16, String, bool)> {
    let cyrillic = |s: &str| s.chars().any(|c| ('\u{400}'..='\u{4ff}').contains(&c));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("SIP/2.0 ") else {
            continue;
        };
        let Some(code) = rest.get(..3).and_then(|d| d.parse::<u16>().ok()) else {
            continue;
        };
        if !rest
            .get(..3)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let next = lines.get(i + 1).copied().unwrap_or("");
        if !cyrillic(line) && !cyrillic(next) {
            continue;
        }
        let body = rest.get(3..).unwrap_or("").trim();
        let (phrase, explained) = match body.split_once(" — ") {
            Some((p, why)) => (p.trim(), cyrillic(why)),
            None => (body, false),
        };
        out.push((code, phrase.to_string(), explained));
    }
    out
}

fn is_default(code: u16, phrase: &str) -> bool {
    lookup(code).is_some_and(|c| {
        c.reason
            .split_whitespace()
            .map(str::to_lowercase)
            .eq(phrase.split_whitespace().map(str::to_lowercase))
    })
}

#[test]
fn every_operator_phrase_has_a_hint() {
    let Some(seeds) = Seeds::load() else { return };
    let rows = operator_rows(seeds.get("003_"));
    assert!(rows.len() >= 100, "found only {} operator rows", rows.len());
    let mut missing = Vec::new();
    for (code, phrase, explained) in &rows {
        // Explained rows, vendor phrases, and every failure row must have a hint.
        let needs_hint = *explained || !is_default(*code, phrase) || *code >= 400;
        if needs_hint && hint(*code, phrase).is_none() {
            missing.push(format!("{code} {phrase}"));
        }
    }
    assert!(
        missing.is_empty(),
        "operator rows without a hint: {missing:#?}"
    );
    // The "5xx: softswitch trouble" row has no single code; it is the class hint.
    assert!(seeds.get("003_").contains("SIP/2.0 5хх"));
    assert!(class_hint(503).is_some());
}

#[test]
fn every_hint_comes_from_an_operator_row() {
    let Some(seeds) = Seeds::load() else { return };
    let rows = operator_rows(seeds.get("003_"));
    for code in 100..800 {
        for h in hints_for(code) {
            let found = rows
                .iter()
                .any(|(c, p, _)| *c == h.code && hint(*c, p).is_some_and(|x| std::ptr::eq(x, h)));
            assert!(
                found,
                "hint {} {:?} is in no operator row",
                h.code, h.phrase
            );
        }
    }
    // The brief's examples, looked up as a user would type them.
    assert!(hint(403, "WRONG GUESS").is_some_and(|h| h.cause.to_lowercase().contains("password")));
    assert!(hint(480, " no money left ").is_some_and(|h| h.cause.contains("credit")));
    assert!(hint(488, "private ip address").is_some_and(|h| h.cause.contains("1918")));
    assert!(hint(500, "Db TimeOut").is_some_and(|h| h.cause.contains("database")));
}

// ---------------------------------------------------------------- own words

/// Lower-case, whitespace runs collapsed to one space.
fn normalise(s: &str) -> Vec<char> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

const WINDOW: usize = 40;

/// Every description we wrote, with where it lives.
fn our_texts() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for c in all() {
        out.push((format!("{} meaning", c.code), c.meaning));
        for role in Role::ALL {
            let facts = c.role(role);
            if let Some(r) = facts.on_receipt {
                out.push((format!("{} {role:?} on_receipt", c.code), r));
            }
            if let Some(n) = facts.note {
                out.push((format!("{} {role:?} note", c.code), n));
            }
        }
    }
    for code in 100..800 {
        for h in hints_for(code) {
            out.push((format!("hint {} {}", h.code, h.phrase), h.cause));
        }
    }
    for m in methods() {
        out.push((format!("method {}", m.name), m.meaning));
    }
    for n in 0..=127 {
        if let Some(name) = q850_cause(n) {
            out.push((format!("q850 {n}"), name));
        }
    }
    if let Some(h) = class_hint(500) {
        out.push(("class hint 5xx".to_string(), h));
    }
    out
}

#[test]
fn no_description_copies_seed_text() {
    let Some(seeds) = Seeds::load() else { return };
    // Every 40-character window of the seeds; a description may not share one.
    let mut windows: HashSet<String> = HashSet::new();
    for (_, text) in &seeds.files {
        let t = normalise(text);
        for w in t.windows(WINDOW) {
            windows.insert(w.iter().collect());
        }
    }
    let texts = our_texts();
    assert!(texts.len() > 250, "collected only {} texts", texts.len());
    let mut copied = Vec::new();
    for (what, text) in &texts {
        let t = normalise(text);
        if let Some(w) = t
            .windows(WINDOW)
            .find(|w| windows.contains(&w.iter().collect::<String>()))
        {
            copied.push(format!("{what}: {:?}", w.iter().collect::<String>()));
        }
    }
    assert!(
        copied.is_empty(),
        "descriptions sharing 40+ characters with a seed: {copied:#?}"
    );
}

#[test]
fn the_copy_check_can_fail() {
    // A seed sentence must be caught by the same window test the real check uses.
    let Some(seeds) = Seeds::load() else { return };
    let seed = normalise(seeds.get("000_"));
    let copied: String = seed.iter().skip(200).take(60).collect();
    let probe = normalise(&format!("Our text: {copied}"));
    let mut windows: HashSet<String> = HashSet::new();
    for w in seed.windows(WINDOW) {
        windows.insert(w.iter().collect());
    }
    assert!(probe
        .windows(WINDOW)
        .any(|w| windows.contains(&w.iter().collect::<String>())));
}

#[test]
fn missing_seeds_are_reported_not_failed() {
    let nowhere = std::env::temp_dir().join("sipscope-no-such-seed-dir-7f3a");
    assert!(!nowhere.exists());
    assert!(Seeds::load_from(&[nowhere]).is_none());
}
