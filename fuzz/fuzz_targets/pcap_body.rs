//! Shared by the fuzz targets that read their input as the records of a pcap file.

/// A classic little-endian microsecond pcap file (snaplen 65535, link type `linktype`) whose
/// records are `body`: a valid global header in front of arbitrary bytes.
pub fn with_pcap_header(linktype: u32, body: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(24 + body.len());
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&0i32.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&65535u32.to_le_bytes());
    file.extend_from_slice(&linktype.to_le_bytes());
    file.extend_from_slice(body);
    file
}
