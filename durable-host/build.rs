//! Compiles the Durable Task sidecar protocol (`proto/durable_task.proto`) into the server
//! half of a tonic service. protox is a protobuf compiler in Rust, so the build needs no
//! `protoc` and nothing from the network.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/durable_task.proto");
    let descriptors = protox::compile(["durable_task.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
