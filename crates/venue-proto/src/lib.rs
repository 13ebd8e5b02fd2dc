//! The gRPC contract of `venue`, generated from `proto/venue/v1/venue.proto`.
//!
//! The generated Rust is checked in (`src/gen`) rather than produced by a
//! build script, so building the venue needs no `protoc` on the machine; the
//! test `generated_code_is_current` regenerates it with `protoc` (which
//! `.ci/run` installs) and fails when the checked-in copy differs. After
//! editing the `.proto`, run
//! `VENUE_UPDATE_GENERATED=1 cargo test -p venue-proto` to refresh it.

/// Package `venue.v1`: messages, server traits (`*_server`) and clients
/// (`*_client`, generic over the transport).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!("gen/venue.v1.rs");
}

/// The encoded `FileDescriptorSet` of `venue.v1`, for gRPC server
/// reflection: tools such as grpcurl discover the services from it.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/venue_v1_descriptor.bin");
