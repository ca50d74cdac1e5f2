//! Calls, dialogs, transactions, retransmissions, hops and roles, built from parsed messages.
