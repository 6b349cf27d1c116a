//! Rebuilds the crate when the page in `web/dist` changes: the files are
//! embedded with `include_dir!`, which cargo cannot see into on its own.

fn main() {
    println!("cargo:rerun-if-changed=../web/dist");
}
