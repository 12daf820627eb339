//! The options of the attributes: `worker_threads = 4, max_tasks = 1000, thread_name = "x",
//! max_blocking_threads = 8, pin_workers, crate = "path"`, and for tests `sim, seeds = 100`.
//!
//! Ground rules:
//! 1. Each option may appear once; an unknown or repeated option, a value of the wrong kind, and a
//!    count of 0 where 0 is meaningless are errors spanned at the option.
//! 2. Options map one to one to `kqio::InitOptions` fields (named as tokio names the common one,
//!    `worker_threads`, for `InitOptions::n_threads`), so nothing here decides runtime behaviour.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{LitInt, LitStr, Path};

/// Which attribute is being expanded: what options it takes differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Main => "kqio::main",
            Kind::Test => "kqio::test",
        }
    }
}

/// The options given to one attribute, as parsed.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) worker_threads: Option<LitInt>,
    pub(crate) max_tasks: Option<LitInt>,
    pub(crate) max_blocking_threads: Option<LitInt>,
    pub(crate) thread_name: Option<LitStr>,
    /// `pin_workers`: `InitOptions::pin_workers: true`; the span of the word.
    pub(crate) pin_workers: Option<Span>,
    pub(crate) krate: Option<Path>,
    /// `sim`: run the body on the simulator (tests only); the span of the word.
    pub(crate) sim: Option<Span>,
    /// `seeds = N` (with `sim` only).
    pub(crate) seeds: Option<LitInt>,
}

const MAIN_OPTIONS: &str =
    "worker_threads, max_tasks, max_blocking_threads, thread_name, pin_workers, crate";
const TEST_OPTIONS: &str =
    "worker_threads, max_tasks, max_blocking_threads, thread_name, pin_workers, crate, sim, seeds";

impl Options {
    /// Parses the attribute's arguments (what is inside `#[kqio::main(...)]`).
    pub(crate) fn parse(kind: Kind, args: proc_macro2::TokenStream) -> syn::Result<Options> {
        let mut options = Options::default();
        let parser = syn::meta::parser(|meta| options.one(kind, meta));
        parser.parse2(args)?;
        options.check(kind)?;
        Ok(options)
    }

    fn one(&mut self, kind: Kind, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let name = match meta.path.get_ident() {
            Some(ident) => ident.to_string(),
            // `crate` is a keyword: `get_ident` still returns it, but keep the fallback honest.
            None => return Err(meta.error(unknown(kind))),
        };
        match name.as_str() {
            "worker_threads" => set(&mut self.worker_threads, &meta, positive_int(&meta)?),
            "max_tasks" => set(&mut self.max_tasks, &meta, positive_int(&meta)?),
            "max_blocking_threads" => {
                set(&mut self.max_blocking_threads, &meta, positive_int(&meta)?)
            }
            "thread_name" => {
                let value: LitStr = meta.value()?.parse()?;
                set(&mut self.thread_name, &meta, value)
            }
            "crate" => {
                let value: LitStr = meta.value()?.parse()?;
                let path: Path = value.parse()?;
                set(&mut self.krate, &meta, path)
            }
            "pin_workers" => {
                if meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("`pin_workers` takes no value: write `pin_workers`"));
                }
                set(&mut self.pin_workers, &meta, meta.path.segments[0].ident.span())
            }
            "sim" if kind == Kind::Test => {
                if meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("`sim` takes no value: write `sim, seeds = 100`"));
                }
                set(&mut self.sim, &meta, meta.path.segments[0].ident.span())
            }
            "seeds" if kind == Kind::Test => set(&mut self.seeds, &meta, positive_int(&meta)?),
            "sim" | "seeds" => Err(meta.error(
                "`sim` and `seeds` are options of #[kqio::test]: a program's main runs on the \
                 kqueue backend",
            )),
            "flavor" => Err(meta.error(
                "kqio has one runtime flavor (a work-stealing pool plus the thread that calls \
                 block_on); set its size with `worker_threads = N`",
            )),
            _ => Err(meta.error(unknown(kind))),
        }
    }

    fn check(&self, kind: Kind) -> syn::Result<()> {
        if let (Some(seeds), None) = (&self.seeds, self.sim) {
            return Err(syn::Error::new(seeds.span(), "`seeds` needs `sim`: `sim, seeds = N`"));
        }
        if let Some(sim) = self.sim {
            debug_assert_eq!(kind, Kind::Test);
            // The simulator runs one thread from one seed: runtime sizes mean nothing there.
            let runtime_only = [
                self.worker_threads.as_ref().map(LitInt::span),
                self.max_tasks.as_ref().map(LitInt::span),
                self.max_blocking_threads.as_ref().map(LitInt::span),
                self.thread_name.as_ref().map(LitStr::span),
                self.pin_workers,
            ];
            if let Some(span) = runtime_only.into_iter().flatten().next() {
                let mut e = syn::Error::new(
                    span,
                    "this option sizes the kqueue runtime; a `sim` test runs on the simulator's \
                     single thread",
                );
                e.combine(syn::Error::new(sim, "`sim` given here"));
                return Err(e);
            }
        }
        Ok(())
    }
}

fn unknown(kind: Kind) -> String {
    let known = match kind {
        Kind::Main => MAIN_OPTIONS,
        Kind::Test => TEST_OPTIONS,
    };
    format!("unknown option of #[{}]; the options are: {known}", kind.name())
}

fn set<T>(slot: &mut Option<T>, meta: &ParseNestedMeta<'_>, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("this option is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// `= N` with N a positive integer that fits a `usize` on any target kqio builds for.
fn positive_int(meta: &ParseNestedMeta<'_>) -> syn::Result<LitInt> {
    let lit: LitInt = meta.value()?.parse()?;
    match lit.base10_parse::<u32>() {
        Ok(0) => Err(syn::Error::new(lit.span(), "must be at least 1")),
        Ok(_) => Ok(lit),
        Err(_) => Err(syn::Error::new(lit.span(), "expected a count between 1 and 4294967295")),
    }
}
