//! A fake STUN server on loopback, for server-reflexive gathering tests.

use std::net::SocketAddr;

use bytecodec::{DecodeExt, EncodeExt};
use stun_codec::rfc5389::attributes::XorMappedAddress;
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder};

/// The address the fake server reports as mapped: what a NAT would
/// report, distinct from the host candidate's `127.0.0.1`.
pub const MAPPED_IP: [u8; 4] = [127, 0, 0, 2];

/// Start a STUN server on `127.0.0.1` (a task on the current runtime) that
/// answers every Binding request with `127.0.0.2:<client port>` as the
/// mapped address, the way a plain STUN server does (no
/// MESSAGE-INTEGRITY). Returns its address.
///
/// # Errors
/// If the socket cannot be bound.
pub async fn fake_stun_server() -> std::io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Some(datagram) = buf.get(..n) else {
                continue;
            };
            let Ok(Ok(req)) = MessageDecoder::<Attribute>::new().decode_from_bytes(datagram) else {
                continue;
            };
            let mapped = SocketAddr::new(MAPPED_IP.into(), from.port());
            let mut reply = Message::<Attribute>::new(
                MessageClass::SuccessResponse,
                BINDING,
                req.transaction_id(),
            );
            reply.add_attribute(XorMappedAddress::new(mapped));
            if let Ok(bytes) = MessageEncoder::new().encode_into_bytes(reply) {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    Ok(addr)
}
