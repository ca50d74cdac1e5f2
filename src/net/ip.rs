//! IPv4 and IPv6: headers, extension headers, and fragment reassembly with caps and timeouts.
