//! The signaling server's client frames: any text is parsed without a
//! panic, into a message or a typed rejection whose reply serializes.
#![allow(dead_code, unreachable_pub)]

pub fn signaling_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match overlay_signaling::wire::parse_client_frame(text) {
        Ok((_, msg)) => {
            let _ = msg.kind();
        }
        Err(rejection) => {
            let json = rejection.into_frame().to_json();
            assert!(
                serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                "the error reply is not JSON: {json}"
            );
        }
    }
}
