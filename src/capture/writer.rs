//! Writing pcap and pcapng files: used by the tests to build captures that no SIP stack makes on
//! demand, and by exports that save selected frames.
