//! Generates the prost/tonic code for `ferry.bridge.v1` with the protoc
//! that ships inside the `protoc-bin-vendored` crate, so a clean machine
//! needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // Record payloads stay zero-copy slices of the received frame.
        .bytes(".ferry.bridge.v1")
        // Ordered maps keep serialized error documents deterministic.
        .btree_map(".ferry.bridge.v1")
        .compile_with_config(config, &["ferry/bridge/v1/bridge.proto"], &["."])?;
    Ok(())
}
