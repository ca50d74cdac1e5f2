//! Link layers: from a frame of a given link type to the network-layer packet inside it.
