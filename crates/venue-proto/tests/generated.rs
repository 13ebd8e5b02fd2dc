//! The checked-in generated code must be what `protoc` makes of the
//! `.proto` files today.

use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_code_is_current() {
    let proto_root = manifest().join("../../proto");
    let proto = proto_root.join("venue/v1/venue.proto");
    let out = std::env::temp_dir().join(format!("venue-proto-gen-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let descriptor = out.join("venue_v1_descriptor.bin");
    let result = tonic_prost_build::configure()
        .build_transport(false)
        .out_dir(&out)
        .file_descriptor_set_path(&descriptor)
        .compile_protos(&[proto], &[proto_root]);
    if let Err(e) = result {
        panic!(
            "protoc could not compile proto/venue/v1/venue.proto: {e}\n\
             (protoc comes from Debian's protobuf-compiler, which .ci/run installs)"
        );
    }
    let gen_dir = manifest().join("src/gen");
    let update = std::env::var_os("VENUE_UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for name in ["venue.v1.rs", "venue_v1_descriptor.bin"] {
        let fresh = std::fs::read(out.join(name)).unwrap();
        let path: &Path = &gen_dir.join(name);
        if update {
            std::fs::write(path, &fresh).unwrap();
        } else if std::fs::read(path).ok().as_deref() != Some(&fresh[..]) {
            stale.push(name);
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        stale.is_empty(),
        "{stale:?} in crates/venue-proto/src/gen differ from what protoc generates from the .proto: \
         run `VENUE_UPDATE_GENERATED=1 cargo test -p venue-proto` and commit the result"
    );
}
