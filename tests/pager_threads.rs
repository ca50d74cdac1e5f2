//! A pass over a capture file pages it on a thread of its own (`ingest::pager`). When the
//! pass ends, that thread must be wholly gone, not merely done with its work: left to finish
//! on its own, it held its handle past the end of the command, and the fuzz target `commands`
//! reported that as a leak (fuzz/README.md). One test in this file, so that no other test's
//! threads run in its process.

use sipscope::cli::Config;

/// Threads of this process named `pager`.
fn pager_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task")
        .expect("this test reads the threads of its process in /proc/self/task (Linux)");
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "pager")
        .count()
}

#[test]
fn no_pager_thread_outlives_its_pass() {
    let sample = format!("{}/samples/call-tcp.pcap", env!("CARGO_MANIFEST_DIR"));
    let commands: [&[&str]; 4] = [
        &["stats"],
        &["calls"],
        &["diagnose"],
        &["export", "--format", "ndjson"],
    ];
    for round in 0..50 {
        for args in commands {
            let mut line = vec!["sipscope"];
            line.extend_from_slice(args);
            line.push(&sample);
            let config = Config::from_args(&line).expect("valid arguments");
            let (mut out, mut err) = (Vec::new(), Vec::new());
            sipscope::run(config, &mut out, &mut err).expect("the sample is read");
            assert!(!out.is_empty(), "{args:?}");
            assert_eq!(
                pager_threads(),
                0,
                "round {round}, {args:?}: a pager thread is still there after the command"
            );
        }
    }
}
