//! Command-line arguments (clap derive) and their validation into a [`Config`], in two levels as
//! ripgrep does: raw flags here, checked settings for the library.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sipscope",
    version,
    about = "SIP trace analyzer: reads captures, groups calls, explains failures",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Capture files (pcap, pcapng, gzip-compressed or not; `-` for standard input)
    pub files: Vec<String>,
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

/// What to run, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Config {
    Stats { files: Vec<String>, json: bool },
    Codes(crate::output::codes::CodesQuery),
}

impl Args {
    /// Turns raw arguments into a configuration, or a usage error.
    pub fn into_config(self) -> Result<Config, String> {
        match self.command {
            Some(Command::Stats(a)) => {
                check_stdin_once(&a.files)?;
                Ok(Config::Stats {
                    files: a.files,
                    json: a.json,
                })
            }
            Some(Command::Codes { code }) => Ok(Config::Codes(
                crate::output::codes::CodesQuery::parse(code.as_deref())?,
            )),
            None if self.files.is_empty() => {
                Err("no capture given; try `sipscope stats FILE` or `sipscope --help`".into())
            }
            None => {
                check_stdin_once(&self.files)?;
                Ok(Config::Stats {
                    files: self.files,
                    json: false,
                })
            }
        }
    }
}

fn check_stdin_once(files: &[String]) -> Result<(), String> {
    if files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        return Err("standard input (`-`) can be read only once".into());
    }
    if files.len() > usize::from(u16::MAX) {
        return Err("too many input files".into());
    }
    Ok(())
}
