//! SDP bodies: connection address, media lines, rtpmap, direction.
