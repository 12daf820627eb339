//! The `#[kqio::main]` and `#[kqio::test]` attributes. Use them through `kqio`, which re-exports
//! them (`kqio::main`, `kqio::test`) and documents them; this crate has no API of its own.
//!
//! Ground rules:
//! 1. The expansion names only `kqio`'s public API (`Kqueue::init`, `InitOptions`, `block_on`,
//!    `deinit`), by the path `::kqio` unless the `crate = "path"` option says otherwise.
//! 2. The user's function is kept as written (signature, body, attributes on its body) as an inner
//!    `async fn` of the generated one, so `?`, `return` and the return type mean what they say,
//!    and type errors point at the user's code.
//! 3. Every misuse is a `compile_error!` spanned at the offending tokens (`options.rs` and
//!    `expand.rs` return `syn::Error`s; the entry points below turn them into tokens).

mod expand;
mod options;

use proc_macro::TokenStream;

// `kqio::main`: documented where kqio re-exports it (rustdoc appends doc comments here to those).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::main(args.into(), item.into()).unwrap_or_else(|e| e.to_compile_error()).into()
}

// `kqio::test`: as above.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::test(args.into(), item.into()).unwrap_or_else(|e| e.to_compile_error()).into()
}
