//! n2n-overlay transport on webrtc-rs (work in progress).
