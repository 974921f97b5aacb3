//! Records what this binary was built from; the script is shared with the
//! other binary that prints `version` (see build-support/build_info.rs).

include!("../../build-support/build_info.rs");
