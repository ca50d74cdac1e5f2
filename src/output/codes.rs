//! `sipscope codes`: explaining a response code from the knowledge base, with what a phone, a
//! gateway and a proxy do with it, or listing the codes of a class.

use std::io::{self, Write};

use crate::knowledge::{self, Class, Role, Tri};

/// What the user asked `codes` about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodesQuery {
    /// Every class with its codes.
    All,
    /// One code (known or not).
    Code(u16),
    /// The codes of a class (`4xx`).
    Class(u8),
}

impl CodesQuery {
    /// Reads `486`, `4xx` / `4XX` / `4`, or nothing.
    pub fn parse(arg: Option<&str>) -> Result<CodesQuery, String> {
        let Some(a) = arg.map(str::trim) else {
            return Ok(CodesQuery::All);
        };
        let lower = a.to_ascii_lowercase();
        if let Some(d) =
            lower
                .strip_suffix("xx")
                .or(if lower.len() == 1 { Some(&lower) } else { None })
        {
            if let Ok(d @ 1..=9) = d.parse::<u8>() {
                return Ok(CodesQuery::Class(d));
            }
        }
        match a.parse::<u16>() {
            Ok(c @ 100..=999) => Ok(CodesQuery::Code(c)),
            _ => Err(format!(
                "`{}` is neither a status code (100-999) nor a class such as 4xx",
                crate::output::escape_str(a)
            )),
        }
    }
}

fn tri(t: Tri) -> &'static str {
    match t {
        Tri::Yes => "yes",
        Tri::No => "no",
        Tri::NotSaid => "-",
    }
}

/// Writes the explanation of one code.
pub fn write_code(out: &mut dyn Write, code: u16) -> io::Result<()> {
    let d = knowledge::describe(code);
    let finality = if d.is_final() { "final" } else { "provisional" };
    match (d.known, d.info) {
        (true, Some(i)) => {
            writeln!(out, "{} {}", i.code, i.reason)?;
            writeln!(out, "  class    {} ({finality})", i.class.label())?;
            writeln!(out, "  defined  {} ({:?})", i.rfc, i.standing)?;
            writeln!(out, "  meaning  {}", i.meaning)?;
        }
        (false, Some(i)) => {
            writeln!(out, "{code} (not a registered code)")?;
            writeln!(out, "  class    {} ({finality})", d.class.label())?;
            writeln!(
                out,
                "  a receiver that does not know it must treat it as {} {}:",
                i.code, i.reason
            )?;
            writeln!(out, "  meaning  {}", i.meaning)?;
        }
        (_, None) => {
            writeln!(out, "{code} ({})", d.class.label())?;
            writeln!(out, "  meaning  {}", d.meaning())?;
            return Ok(());
        }
    }
    let Some(info) = d.info else { return Ok(()) };
    writeln!(out)?;
    writeln!(
        out,
        "  {:<12} {:<10} {:<9} on receipt",
        "role", "generates", "forwards"
    )?;
    for role in [Role::Phone, Role::Gateway, Role::Proxy] {
        let f = info.role(role);
        writeln!(
            out,
            "  {:<12} {:<10} {:<9} {}",
            role.label(),
            tri(f.generates),
            tri(f.forwards),
            f.on_receipt.unwrap_or("-")
        )?;
        if let Some(note) = f.note {
            writeln!(out, "  {:<12} note: {note}", "")?;
        }
    }
    let hints = knowledge::hints_for(info.code);
    let vendor: Vec<_> = hints.iter().filter(|h| !h.is_default_phrase()).collect();
    if !vendor.is_empty() {
        writeln!(out)?;
        writeln!(out, "  reason phrases seen in the field:")?;
        for h in vendor {
            writeln!(out, "    \"{}\": {}", h.phrase, h.cause)?;
        }
    }
    if let Some(c) = knowledge::class_hint(code) {
        writeln!(out, "  class hint: {c}")?;
    }
    Ok(())
}

/// Writes the codes of one class, one per line.
pub fn write_class(out: &mut dyn Write, digit: u8) -> io::Result<()> {
    let class = Class::of(u16::from(digit) * 100);
    writeln!(out, "{}", class.label())?;
    for i in knowledge::in_class(class) {
        writeln!(out, "  {} {:<40} {}", i.code, i.reason, i.meaning)?;
    }
    Ok(())
}

/// Runs the query.
pub fn write(out: &mut dyn Write, q: CodesQuery) -> io::Result<()> {
    match q {
        CodesQuery::Code(c) => write_code(out, c),
        CodesQuery::Class(d) => write_class(out, d),
        CodesQuery::All => {
            for d in 1..=7 {
                write_class(out, d)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(q: CodesQuery) -> String {
        let mut v = Vec::new();
        write(&mut v, q).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn parses_codes_and_classes() {
        assert_eq!(CodesQuery::parse(Some("486")), Ok(CodesQuery::Code(486)));
        assert_eq!(CodesQuery::parse(Some("4xx")), Ok(CodesQuery::Class(4)));
        assert_eq!(CodesQuery::parse(Some("5XX")), Ok(CodesQuery::Class(5)));
        assert_eq!(CodesQuery::parse(None), Ok(CodesQuery::All));
        assert!(CodesQuery::parse(Some("99")).is_err());
        assert!(CodesQuery::parse(Some("busy")).is_err());
    }

    #[test]
    fn explains_a_known_code_with_roles() {
        let t = text(CodesQuery::Code(486));
        assert!(t.starts_with("486 Busy Here"), "{t}");
        assert!(t.contains("4xx client failure"));
        for role in ["SIP phone", "SIP gateway", "SIP proxy"] {
            assert!(
                t.lines().any(|l| l.trim_start().starts_with(role)),
                "{role} row in {t}"
            );
        }
    }

    #[test]
    fn unknown_code_falls_back_to_its_class() {
        let t = text(CodesQuery::Code(499));
        assert!(t.contains("not a registered code"), "{t}");
        assert!(t.contains("treat it as 400"), "{t}");
    }

    #[test]
    fn class_lists_only_its_codes() {
        let t = text(CodesQuery::Class(6));
        assert!(t.contains("603 Decline"));
        assert!(!t.contains("486"));
    }
}
