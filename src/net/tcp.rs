//! Per-direction TCP stream reassembly: sequence order, retransmissions and overlaps removed, gaps reported.
