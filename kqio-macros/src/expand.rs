//! The expansions of `#[kqio::main]` and `#[kqio::test]`.
//!
//! ```text
//! #[kqio::main(worker_threads = 4)]            fn main() -> R {
//! async fn main(io: kqio::IoRef) -> R {   =>      async fn main(io: kqio::IoRef) -> R { body }
//!     body                                         let rt = ::kqio::Kqueue::init(InitOptions {
//! }                                                    n_threads: Some(4), ..Default::default()
//!                                                  }).expect(..);
//!                                                  let out = rt.block_on(main(rt.io()));
//!                                                  rt.deinit();
//!                                                  out
//!                                              }
//! ```
//!
//! `#[kqio::test]` is the same inside a `#[test] fn` (one runtime per test, 1 worker unless
//! `worker_threads` says otherwise); `#[kqio::test(sim, seeds = N)]` runs the body on the
//! simulator instead, once per seed (`expand_sim`).
//!
//! Ground rules:
//! 1. The user's `async fn` becomes an inner item of the generated function, unchanged but for
//!    `async` staying: its body sees exactly what it would see at the user's module level
//!    (items, imports), nothing of the generated function's locals.
//! 2. It takes no parameter or one; the one receives the runtime's `IoRef` (`rt.io()`), with the
//!    call spanned at the parameter's type, so a wrong type is reported there.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn};

use crate::options::{Kind, Options};

pub(crate) fn main(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(Kind::Main, args)?;
    let function = parse_fn(Kind::Main, item)?;
    Ok(expand(Kind::Main, &options, &function))
}

pub(crate) fn test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(Kind::Test, args)?;
    let function = parse_fn(Kind::Test, item)?;
    if let Some(attr) = function.attrs.iter().find(|a| a.path().is_ident("test")) {
        return Err(syn::Error::new(
            attr.span(),
            "#[kqio::test] already makes this a test: remove this #[test]",
        ));
    }
    if options.sim.is_some() {
        return Ok(expand_sim(&options, &function));
    }
    Ok(expand(Kind::Test, &options, &function))
}

/// Parses the item and checks what both attributes require of it.
fn parse_fn(kind: Kind, item: TokenStream) -> syn::Result<ItemFn> {
    let function: ItemFn = syn::parse2(item)?;
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("#[{}] goes on an `async fn`: add `async` before `fn`", kind.name()),
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(constness.span(), "an `async fn` here cannot be `const`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("#[{}] takes a function without generic parameters", kind.name()),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(variadic.span(), "variadic functions are not supported"));
    }
    let mut inputs = sig.inputs.iter();
    if let Some(FnArg::Receiver(r)) = inputs.next() {
        return Err(syn::Error::new(r.span(), "a `self` parameter is not supported here"));
    }
    if let Some(second) = inputs.next() {
        return Err(syn::Error::new(
            second.span(),
            format!(
                "#[{}] takes at most one parameter, which receives the runtime's `IoRef`: \
                 `async fn {}(io: kqio::IoRef)`",
                kind.name(),
                sig.ident
            ),
        ));
    }
    Ok(function)
}

/// The generated function: see the module's header.
fn expand(kind: Kind, options: &Options, function: &ItemFn) -> TokenStream {
    let krate = match &options.krate {
        Some(path) => quote!(#path),
        None => quote!(::kqio),
    };
    let ItemFn { attrs, vis, sig, .. } = function;
    let ident = &sig.ident;
    let output = &sig.output;
    let call_site = Span::call_site();

    let n_threads = match (&options.worker_threads, kind) {
        (Some(n), _) => quote!(::core::option::Option::Some(#n)),
        // One runtime per test, with tests running in parallel: the smallest pool by default.
        (None, Kind::Test) => quote!(::core::option::Option::Some(1)),
        (None, Kind::Main) => quote!(::core::option::Option::None),
    };
    let mut fields = vec![quote!(n_threads: #n_threads)];
    if let Some(n) = &options.max_tasks {
        fields.push(quote!(max_tasks: ::core::option::Option::Some(#n)));
    }
    if let Some(n) = &options.max_blocking_threads {
        fields.push(quote!(max_blocking_threads: #n));
    }
    if let Some(name) = &options.thread_name {
        fields.push(quote!(thread_name: ::std::string::String::from(#name)));
    }
    if options.pin_workers.is_some() {
        fields.push(quote!(pin_workers: true));
    }

    let rt = quote_spanned!(call_site=> __kqio_runtime);
    let call = match sig.inputs.first() {
        Some(FnArg::Typed(param)) => {
            let span = param.ty.span();
            quote_spanned!(span=> #ident(#rt.io()))
        }
        _ => quote!(#ident()),
    };
    // The inner function keeps only the lint attributes (they cover the body); the others
    // (`#[ignore]`, `#[should_panic]`, docs, `#[cfg]`) belong to the generated function.
    let mut inner = function.clone();
    inner.attrs.retain(is_lint);
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    let what = format!("{}: kqio::Kqueue::init failed", kind.name());
    quote! {
        #test_attr
        #(#attrs)*
        #vis fn #ident() #output {
            #inner
            let #rt = #krate::Kqueue::init(#krate::InitOptions {
                #(#fields,)*
                ..::core::default::Default::default()
            })
            .expect(#what);
            let __kqio_output = #rt.block_on(#call);
            #rt.deinit();
            __kqio_output
        }
    }
}

/// `#[kqio::test(sim, seeds = N)]`: the body runs as the client program of a fresh simulated
/// world for each seed of `kqio::sim::run_seeds` (`0..N`, or what `KQIO_SIM_SEED` /
/// `KQIO_SIM_SEEDS` say), which prints the failing seed and the command that replays it.
///
/// ```text
/// #[test]
/// fn name() {
///     async fn name(io: kqio::IoRef) -> R { body }
///     ::kqio::sim::run_seeds(N, |seed| {
///         let mut sim = ::kqio::sim::Sim::new(SimOptions { seed, ..Default::default() });
///         let client = sim.client("test", name);       // `|_| name()` without a parameter
///         let report = sim.run()?;
///         // R = Result<_, E>: an Err fails the seed.
///         let _ = client.output().expect(..);
///         Ok(report)
///     });
/// }
/// ```
fn expand_sim(options: &Options, function: &ItemFn) -> TokenStream {
    let krate = match &options.krate {
        Some(path) => quote!(#path),
        None => quote!(::kqio),
    };
    let ItemFn { attrs, vis, sig, .. } = function;
    let ident = &sig.ident;
    let seeds = match &options.seeds {
        Some(n) => quote!(#n),
        None => quote!(1),
    };
    let call = match sig.inputs.first() {
        Some(FnArg::Typed(param)) => {
            let span = param.ty.span();
            quote_spanned!(span=> #ident)
        }
        _ => quote!(|_| #ident()),
    };
    let check_output = match &sig.output {
        syn::ReturnType::Default => quote!(let () = __kqio_output;),
        syn::ReturnType::Type(_, ty) => {
            let span = ty.span();
            quote_spanned! {span=>
                if let ::core::result::Result::Err(__kqio_error) = __kqio_output {
                    ::core::panic!(
                        "kqio::sim seed {}: the test returned Err({:?})",
                        __kqio_seed,
                        __kqio_error,
                    );
                }
            }
        }
    };
    let mut inner = function.clone();
    inner.attrs.retain(is_lint);
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #ident() {
            #inner
            #krate::sim::run_seeds(#seeds, |__kqio_seed| {
                let mut __kqio_sim = #krate::sim::Sim::new(#krate::sim::SimOptions {
                    seed: __kqio_seed,
                    ..::core::default::Default::default()
                });
                let __kqio_client = __kqio_sim.client("test", #call);
                let __kqio_report = __kqio_sim.run()?;
                let __kqio_output = __kqio_client
                    .output()
                    .expect("kqio::test(sim): the run ended without the test's output");
                #check_output
                ::core::result::Result::Ok(__kqio_report)
            });
        }
    }
}

fn is_lint(attr: &syn::Attribute) -> bool {
    ["allow", "expect", "warn", "deny", "forbid"].iter().any(|lint| attr.path().is_ident(lint))
}

#[cfg(test)]
mod tests {
    //! The error paths, on token streams (compile-fail tests through `trybuild` would build a
    //! crate per case; these check the same messages and spans' targets in milliseconds). The
    //! expansions that compile are tested by `tests/macros.rs` of kqio, which uses them.

    use super::*;

    fn main_err(args: &str, item: &str) -> String {
        let args: TokenStream = args.parse().unwrap();
        let item: TokenStream = item.parse().unwrap();
        match main(args, item) {
            Ok(out) => panic!("expected an error, got {out}"),
            Err(e) => e.to_string(),
        }
    }

    fn test_err(args: &str, item: &str) -> String {
        let args: TokenStream = args.parse().unwrap();
        let item: TokenStream = item.parse().unwrap();
        match test(args, item) {
            Ok(out) => panic!("expected an error, got {out}"),
            Err(e) => e.to_string(),
        }
    }

    fn main_ok(args: &str, item: &str) -> String {
        main(args.parse().unwrap(), item.parse().unwrap()).unwrap().to_string()
    }

    fn test_ok(args: &str, item: &str) -> String {
        test(args.parse().unwrap(), item.parse().unwrap()).unwrap().to_string()
    }

    #[test]
    fn non_async_fn_is_refused() {
        let e = main_err("", "fn main() {}");
        assert!(e.contains("goes on an `async fn`"), "{e}");
        let e = test_err("", "fn t() {}");
        assert!(e.contains("#[kqio::test] goes on an `async fn`"), "{e}");
    }

    #[test]
    fn unknown_option_names_the_known_ones() {
        let e = main_err("workers = 4", "async fn main() {}");
        assert!(e.contains("unknown option of #[kqio::main]"), "{e}");
        assert!(e.contains("worker_threads"), "{e}");
        let e = test_err("bogus", "async fn t() {}");
        assert!(e.contains("unknown option of #[kqio::test]") && e.contains("seeds"), "{e}");
    }

    #[test]
    fn option_values_are_checked() {
        assert!(main_err("worker_threads = 0", "async fn main() {}").contains("at least 1"));
        let e = main_err("worker_threads = \"4\"", "async fn main() {}");
        assert!(e.contains("expected integer literal"), "{e}");
        let e = main_err("worker_threads = 1, worker_threads = 2", "async fn main() {}");
        assert!(e.contains("given twice"), "{e}");
        let e = main_err("thread_name = 3", "async fn main() {}");
        assert!(e.contains("expected string literal"), "{e}");
        let e = main_err("max_tasks = 99999999999", "async fn main() {}");
        assert!(e.contains("between 1 and"), "{e}");
        let e = main_err("flavor = \"current_thread\"", "async fn main() {}");
        assert!(e.contains("one runtime flavor"), "{e}");
        let e = main_err("pin_workers = true", "async fn main() {}");
        assert!(e.contains("takes no value"), "{e}");
        let e = main_err("pin_workers, pin_workers", "async fn main() {}");
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn sim_options_belong_to_tests() {
        let e = main_err("sim", "async fn main() {}");
        assert!(e.contains("options of #[kqio::test]"), "{e}");
        let e = test_err("seeds = 10", "async fn t() {}");
        assert!(e.contains("`seeds` needs `sim`"), "{e}");
        let e = test_err("sim = true", "async fn t() {}");
        assert!(e.contains("takes no value"), "{e}");
        let e = test_err("sim, worker_threads = 2", "async fn t() {}");
        assert!(e.contains("sizes the kqueue runtime"), "{e}");
        let e = test_err("sim, pin_workers", "async fn t() {}");
        assert!(e.contains("sizes the kqueue runtime"), "{e}");
    }

    #[test]
    fn signature_misuse_is_refused() {
        let e = main_err("", "async fn main(io: IoRef, n: u32) {}");
        assert!(e.contains("at most one parameter"), "{e}");
        let e = test_err("", "async fn t<T>() {}");
        assert!(e.contains("without generic parameters"), "{e}");
        let e = main_err("", "async fn main(&self) {}");
        assert!(e.contains("`self` parameter"), "{e}");
        let e = main_err("", "const async fn main() {}");
        assert!(e.contains("cannot be `const`"), "{e}");
        let e = test_err("", "#[test] async fn t() {}");
        assert!(e.contains("remove this #[test]"), "{e}");
        let e = main_err("", "struct NotAFunction;");
        assert!(e.contains("expected"), "{e}");
    }

    #[test]
    fn expansion_builds_the_runtime_from_the_options() {
        let out = main_ok(
            "worker_threads = 4, max_tasks = 100, max_blocking_threads = 2, thread_name = \"w\"",
            "async fn main(io: kqio::IoRef) -> std::io::Result<()> { Ok(()) }",
        );
        assert!(out.contains("n_threads : :: core :: option :: Option :: Some (4)"), "{out}");
        assert!(out.contains("max_tasks : :: core :: option :: Option :: Some (100)"), "{out}");
        assert!(out.contains("max_blocking_threads : 2"), "{out}");
        assert!(out.contains("thread_name : :: std :: string :: String :: from (\"w\")"), "{out}");
        assert!(!out.contains("pin_workers"), "{out}");
        assert!(out.contains("fn main () -> std :: io :: Result < () >"), "{out}");
        assert!(out.contains("main (__kqio_runtime . io ())"), "{out}");
        assert!(out.contains(":: kqio :: Kqueue :: init"), "{out}");
        assert!(!out.contains("test"), "{out}");
        let out = main_ok("pin_workers", "async fn main() {}");
        assert!(out.contains("pin_workers : true"), "{out}");
    }

    #[test]
    fn sim_expansion_runs_the_body_as_a_client_per_seed() {
        let out = test_ok("sim, seeds = 100", "async fn t(io: IoRef) -> Result<(), E> { Ok(()) }");
        assert!(out.contains(":: kqio :: sim :: run_seeds (100"), "{out}");
        assert!(out.contains("client (\"test\" , t)"), "{out}");
        assert!(out.contains("Err (__kqio_error)"), "{out}");
        assert!(!out.contains("Kqueue"), "{out}");
        let out = test_ok("sim", "async fn t() {}");
        assert!(out.contains("run_seeds (1 ,"), "{out}");
        assert!(out.contains("client (\"test\" , | _ | t ())"), "{out}");
    }

    #[test]
    fn test_expansion_defaults_to_one_worker_and_keeps_attributes() {
        let out = test_ok("crate = \"my::kqio\"", "#[ignore] async fn t() {}");
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] # [ignore]"), "{out}");
        assert!(out.contains("n_threads : :: core :: option :: Option :: Some (1)"), "{out}");
        assert!(out.contains("my :: kqio :: Kqueue :: init"), "{out}");
        assert!(out.contains("block_on (t ())"), "{out}");
        // `#[ignore]` is the test's, not the inner function's.
        assert_eq!(out.matches("ignore").count(), 1, "{out}");
    }
}
