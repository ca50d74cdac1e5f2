//! From payloads to SIP messages: one per datagram; on TCP, cut by Content-Length with resync at
//! start lines; WebSocket (RFC 7118) unmasked and reassembled; TLS recognised and counted.
