//! The internal port's decoders, on any bytes: the append stream's length-delimited frames and
//! their seals, and every body a peer can send (as a peer holding the secret could: a seal
//! proves who sent a body, not that it decodes). Refused, never a panic, and never an
//! allocation the body's size does not justify (`codec::MAX_BLOB_BYTES`).
#![no_main]

use bytes::BytesMut;
use cluster::codec::decode;
use cluster::types::{NodeId, TypeConfig};
use cluster::wire::{
    AppendAnswer, AppendRequest, HelloReply, OrdersReply, OrdersRequest, TickReply, TickRequest,
    WriteReply,
};
use libfuzzer_sys::fuzz_target;
use openraft::raft::{InstallSnapshotRequest, VoteRequest};
use tokio_util::codec::Decoder;

/// Every type the internal port decodes from a peer, requests and answers.
fn decode_all(body: &[u8]) {
    let _ = decode::<AppendRequest>(body);
    let _ = decode::<AppendAnswer>(body);
    let _ = decode::<VoteRequest<NodeId>>(body);
    let _ = decode::<InstallSnapshotRequest<TypeConfig>>(body);
    let _ = decode::<TickRequest>(body);
    let _ = decode::<TickReply>(body);
    let _ = decode::<data::state::Command>(body);
    let _ = decode::<WriteReply>(body);
    let _ = decode::<cluster::LocalCall>(body);
    let _ = decode::<stats::Sample>(body);
    let _ = decode::<OrdersRequest>(body);
    let _ = decode::<OrdersReply>(body);
    let _ = decode::<HelloReply>(body);
}

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    let signer = cluster::auth::Signer::new(
        Some(model::Secret::new("fuzz-secret")),
        "h1".into(),
        "f00d".into(),
    );
    let mut seal = signer.stream_seal("0.0.0.0");
    let mut frames = cluster::stream::codec();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = frames.decode(&mut buf) {
        if let Ok(body) = seal.open(&frame) {
            let _ = decode::<AppendAnswer>(body);
        }
        decode_all(&frame);
    }
});
