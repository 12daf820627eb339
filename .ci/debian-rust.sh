# Sourced by .ci/cross-check and .ci/tsan: makes sure Debian's rustc-web, cargo-web and
# rust-web-src (a Rust with the standard library's source, for -Zbuild-std) are installed, and
# points cargo at them by path, keeping rustup's proxies and settings out of the way.
#
# Usage: `. .ci/debian-rust.sh <name>`; <name> prefixes the messages.
debian_rust_who="${1:-ci}"
if ! /usr/bin/rustc --version 2>/dev/null | grep -q 'built from a source tarball' \
    || [ ! -x /usr/bin/cargo ] \
    || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    echo "$debian_rust_who: installing rustc-web, cargo-web and rust-web-src"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq rustc-web cargo-web rust-web-src >/dev/null
fi
echo "$debian_rust_who: $(/usr/bin/rustc --version)"

unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
