//! Command-line arguments (clap) and their validation into a run configuration.
