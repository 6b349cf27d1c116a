//! The `ticketing.v1` gRPC contract: messages, client and server stubs
//! generated from `proto/ticketing/v1/ticketing.proto`, and the encoded file
//! descriptor set that server reflection serves. Protobuf types stop at the
//! gateway: nothing inward of it depends on this crate.

/// Generated code of package `ticketing.v1`.
pub mod v1 {
    tonic::include_proto!("ticketing.v1");
}

/// The encoded `FileDescriptorSet` of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ticketing_descriptor");
