//! Command-line arguments (clap derive) and their validation into a [`Config`], in two levels as
//! ripgrep does: raw flags here, checked settings for the library. Only this module knows clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::dialog::{Filter, RoleOverride, StatusFilter};
use crate::output::codes::CodesQuery;
use crate::output::time::parse_time;

#[derive(Debug, Parser)]
#[command(
    name = "sipscope",
    version,
    about = "SIP trace analyzer: reads captures, groups calls, explains failures",
    long_about = "SIP trace analyzer: reads captures, groups calls, explains failures.\n\n\
        `sipscope FILE...` opens the interactive view when standard output is a terminal, and \
        prints the call list otherwise.",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Capture files (pcap, pcapng, gzip-compressed or not; `-` for standard input)
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count what the captures hold: frames, SIP messages, methods, codes, Call-IDs
    Stats(StatsArgs),
    /// Explain a response code (`486`) with what a phone, gateway and proxy do with it, or list
    /// a class (`4xx`)
    Codes {
        /// A status code such as 486, or a class such as 4xx; nothing lists every class
        code: Option<String>,
    },
    /// List the calls, one line each (like sngrep's call list)
    Calls(CallsArgs),
    /// Draw calls as ladder diagrams (text for tickets, Mermaid or SVG pictures)
    Ladder(LadderArgs),
    /// Export calls as JSON, NDJSON, or the frames that carry them as a new capture
    Export(ExportArgs),
    /// Say for every call what happened, where, and why, with the evidence
    Diagnose(DiagnoseArgs),
    /// List the RTP streams of every call, with loss, jitter and an estimated MOS
    Media(MediaArgs),
}

/// Inputs, call filters and role overrides shared by every command that analyses calls.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Only calls whose Call-ID contains this text
    #[arg(long, value_name = "TEXT")]
    pub call_id: Option<String>,
    /// Only calls whose From user or URI contains this text (a number or its tail)
    #[arg(long, value_name = "TEXT")]
    pub from: Option<String>,
    /// Only calls whose To user or URI contains this text
    #[arg(long, value_name = "TEXT")]
    pub to: Option<String>,
    /// Only calls with a request of this method (INVITE, REGISTER, ...)
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Only calls whose final code is this code (486) or in this class (4xx)
    #[arg(long, value_name = "CODE|CLASS")]
    pub status: Option<String>,
    /// Only calls that failed (final code 300 or above, or no final answer)
    #[arg(long)]
    pub failed: bool,
    /// Only calls with messages at or after this time (RFC 3339 or epoch seconds)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only calls with messages at or before this time (RFC 3339 or epoch seconds)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Say what a host is, where the wire cannot tell (ROLE: phone, gateway, proxy, b2bua,
    /// registrar); repeatable, e.g. --role 10.0.0.1=gateway --role 10.0.0.2:5060=proxy
    #[arg(long, value_name = "ADDR=ROLE")]
    pub role: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Capture files (several are merged in time order; `-` reads standard input)
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CallsArgs {
    #[arg(required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print `{"calls": [...]}` instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LadderFormat {
    Text,
    Mermaid,
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct LadderArgs {
    #[arg(required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Draw only the call with this number in the call list (1-based)
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    #[arg(long, value_enum, default_value_t = LadderFormat::Text)]
    pub format: LadderFormat,
    /// Width of the text diagram (default: the terminal's, else 100)
    #[arg(long, value_name = "N")]
    pub width: Option<u16>,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Leave out the annotation line under each response
    #[arg(long)]
    pub no_annotate: bool,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Ndjson,
    Pcap,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(required_unless_present = "schema")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
    /// Include the raw text of every message
    #[arg(long)]
    pub raw: bool,
    /// Print the JSON Schema of the export format and exit
    #[arg(long)]
    pub schema: bool,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {
    #[arg(required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print `{"calls": [...], "summary": {...}}` instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct MediaArgs {
    #[arg(required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print `{"streams": [...]}` instead of text
    #[arg(long)]
    pub json: bool,
}

/// What every call-analysing command needs: inputs, which calls, and role overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub files: Vec<String>,
    pub filter: Filter,
    pub roles: Vec<RoleOverride>,
}

/// Ladder settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderConfig {
    pub index: Option<usize>,
    pub format: LadderFormat,
    pub width: Option<u16>,
    pub color: ColorChoice,
    pub annotate: bool,
    pub output: Option<PathBuf>,
}

/// Export settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub format: ExportFormat,
    pub raw: bool,
    pub output: Option<PathBuf>,
}

/// What to run, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Config {
    Stats {
        files: Vec<String>,
        json: bool,
    },
    Codes(CodesQuery),
    Calls {
        sel: Selection,
        json: bool,
    },
    Ladder {
        sel: Selection,
        ladder: LadderConfig,
    },
    Export {
        sel: Selection,
        export: ExportConfig,
    },
    Schema,
    Diagnose {
        sel: Selection,
        json: bool,
    },
    Media {
        sel: Selection,
        json: bool,
    },
    /// The interactive view when stdout is a terminal, else the call list.
    View {
        sel: Selection,
    },
}

impl SelectArgs {
    fn into_selection(self, files: Vec<String>) -> Result<Selection, String> {
        check_files(&files)?;
        let status = match self.status {
            Some(s) => Some(s.parse::<StatusFilter>().map_err(|e| e.to_string())?),
            None => None,
        };
        let filter = Filter {
            call_id: self.call_id,
            from: self.from,
            to: self.to,
            method: self.method,
            status,
            failed: self.failed,
            since: self.since.as_deref().map(parse_time).transpose()?,
            until: self.until.as_deref().map(parse_time).transpose()?,
        };
        let roles = self
            .role
            .iter()
            .map(|r| r.parse::<RoleOverride>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            files,
            filter,
            roles,
        })
    }
}

impl Config {
    /// Parses a whole command line (program name first) as the binary does, for callers that
    /// have no process arguments of their own (tests, the fuzz targets).
    pub fn from_args<I, T>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Args::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .into_config()
    }
}

impl Args {
    /// Turns raw arguments into a configuration, or a usage error.
    pub fn into_config(self) -> Result<Config, String> {
        Ok(match self.command {
            Some(Command::Stats(a)) => {
                check_files(&a.files)?;
                Config::Stats {
                    files: a.files,
                    json: a.json,
                }
            }
            Some(Command::Codes { code }) => Config::Codes(CodesQuery::parse(code.as_deref())?),
            Some(Command::Calls(a)) => Config::Calls {
                sel: a.select.into_selection(a.files)?,
                json: a.json,
            },
            Some(Command::Ladder(a)) => {
                if a.index == Some(0) {
                    return Err("--index counts from 1".into());
                }
                Config::Ladder {
                    sel: a.select.into_selection(a.files)?,
                    ladder: LadderConfig {
                        index: a.index,
                        format: a.format,
                        width: a.width,
                        color: a.color,
                        annotate: !a.no_annotate,
                        output: a.output,
                    },
                }
            }
            Some(Command::Export(a)) if a.schema => Config::Schema,
            Some(Command::Export(a)) => Config::Export {
                sel: a.select.into_selection(a.files)?,
                export: ExportConfig {
                    format: a.format,
                    raw: a.raw,
                    output: a.output,
                },
            },
            Some(Command::Diagnose(a)) => Config::Diagnose {
                sel: a.select.into_selection(a.files)?,
                json: a.json,
            },
            Some(Command::Media(a)) => Config::Media {
                sel: a.select.into_selection(a.files)?,
                json: a.json,
            },
            None if self.files.is_empty() => return Err(
                "no capture given; try `sipscope FILE`, `sipscope stats FILE` or `sipscope --help`"
                    .into(),
            ),
            None => Config::View {
                sel: self.select.into_selection(self.files)?,
            },
        })
    }
}

fn check_files(files: &[String]) -> Result<(), String> {
    if files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        return Err("standard input (`-`) can be read only once".into());
    }
    if files.len() > usize::from(u16::MAX) {
        return Err("too many input files".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["sipscope"];
        v.extend_from_slice(args);
        Args::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn filters_and_roles_are_checked() {
        let Ok(Config::Calls { sel, json }) = config(&[
            "calls",
            "a.pcap",
            "--status",
            "4xx",
            "--failed",
            "--role",
            "10.0.0.1=gateway",
            "--since",
            "2023-11-14T22:13:20Z",
        ]) else {
            panic!("calls config")
        };
        assert!(!json);
        assert_eq!(sel.filter.status, Some(StatusFilter::Class(4)));
        assert!(sel.filter.failed);
        assert_eq!(sel.filter.since, Some(1_699_999_999_999_999_999 + 1));
        assert_eq!(sel.roles.len(), 1);
        assert!(config(&["calls", "a.pcap", "--status", "99"]).is_err());
        assert!(config(&["calls", "a.pcap", "--role", "10.0.0.1=toaster"]).is_err());
        assert!(config(&["calls", "-", "-"]).is_err());
    }

    #[test]
    fn bare_files_open_the_view_and_schema_needs_no_file() {
        assert!(matches!(config(&["x.pcap"]), Ok(Config::View { .. })));
        assert_eq!(config(&["export", "--schema"]), Ok(Config::Schema));
        assert!(config(&[]).is_err());
        assert!(config(&["ladder", "x.pcap", "--index", "0"]).is_err());
    }
}
