fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Vendored protoc: a fresh machine needs no apt package to build the protocol crate.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure().bytes(".").compile_protos(
        &["proto/strata/core.proto", "proto/strata/kv.proto", "proto/strata/gateway.proto"],
        &["proto"],
    )?;
    Ok(())
}
