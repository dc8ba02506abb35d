//! Pieces every expansion shares: the registration block, the descriptor `static`, the
//! source location, and the error fallback.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{ItemFn, LitStr, Path, Type};

use crate::Kind;

/// What every expansion needs, whatever the kind of function.
pub(crate) struct Registration {
    /// `crate = path`, or `::durable_runtime`: for the handle types, which users see.
    pub(crate) krate: TokenStream,
    /// `#krate::__private`: every other generated path goes through it.
    pub(crate) private: TokenStream,
    /// The registered name.
    pub(crate) name: LitStr,
    /// The user's function, as parsed (used to read attributes and the identifier).
    pub(crate) function: ItemFn,
}

impl Registration {
    /// `crate = path`, or `::durable_runtime`.
    pub(crate) fn new(krate: Option<Path>, name: LitStr, function: ItemFn) -> Registration {
        let krate = krate.unwrap_or_else(|| syn::parse_quote!(::durable_runtime));
        Registration {
            private: quote!(#krate::__private),
            krate: krate.into_token_stream(),
            name,
            function,
        }
    }

    /// An item that registers like a function named `ident` with these attributes: an
    /// `impl` block, whose type's name gives the location and whose `#[cfg]`s are repeated.
    pub(crate) fn for_item(
        krate: Option<Path>,
        name: LitStr,
        ident: Ident,
        attrs: Vec<syn::Attribute>,
    ) -> Registration {
        let function: ItemFn = syn::parse_quote!(#(#attrs)* fn #ident() {});
        Registration::new(krate, name, function)
    }

    /// The user's function identifier.
    pub(crate) fn ident(&self) -> &Ident {
        &self.function.sig.ident
    }

    /// `K::SourceLocation { .. }`, spanned at the function's name so `line!()` is its line.
    /// (The name's own span, not [`located_at`] it: `line!()` would then report the
    /// attribute's line, where the expansion comes from. Nothing here is a local variable.)
    pub(crate) fn location(&self) -> TokenStream {
        let k = &self.private;
        quote_spanned! {self.ident().span()=>
            #k::SourceLocation { file: ::core::file!(), line: ::core::line!() }
        }
    }

    /// The `static` descriptor added to the link-time slice `slice` of the runtime.
    pub(crate) fn descriptor(&self, kind: Kind, fields: TokenStream) -> TokenStream {
        let k = &self.private;
        let (slice, ty) = match kind {
            Kind::Activity => (quote!(ACTIVITIES), quote!(ActivityDescriptor)),
            Kind::Orchestration => (quote!(ORCHESTRATORS), quote!(OrchestratorDescriptor)),
            Kind::Entity => (quote!(ENTITIES), quote!(EntityDescriptor)),
            Kind::Client => (quote!(CLIENTS), quote!(ClientDescriptor)),
        };
        let name = &self.name;
        let location = self.location();
        quote! {
            #[#k::linkme::distributed_slice(#k::#slice)]
            #[linkme(crate = #k::linkme)]
            static __DURABLE_DESCRIPTOR: #k::#ty = #k::#ty {
                name: #name,
                location: #location,
                #fields
            };
        }
    }

    /// The user's function (unchanged, or renamed with its handle), followed by the generated
    /// items in one anonymous `const` block. The function's `#[cfg]`s are repeated on the
    /// block so both come and go together.
    pub(crate) fn wrap(&self, function: TokenStream, items: TokenStream) -> TokenStream {
        let cfgs = self
            .function
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"));
        quote! {
            #function

            #(#cfgs)*
            #[allow(
                dead_code,
                deprecated,
                non_snake_case,
                non_upper_case_globals,
                unused_qualifications,
                unused_variables,
                clippy::all,
                clippy::pedantic,
                clippy::nursery,
            )]
            #[doc(hidden)]
            const _: () = {
                #items
            };
        }
    }
}

/// `fn __durable_assertions()`: one call per asserted type, each spanned at the user's type
/// so an unmet bound is reported there, with the runtime's `on_unimplemented` message.
pub(crate) fn assertions(private: &TokenStream, checks: &[(&str, &Type)]) -> TokenStream {
    let calls = checks.iter().map(|(function, ty)| {
        let function = Ident::new(function, Span::call_site());
        quote_spanned! {type_span(ty)=> #private::#function::<#ty>(); }
    });
    quote! {
        fn __durable_assertions() {
            #(#calls)*
        }
    }
}

/// Boxes the invoker's future. Spanned at the function's name, so a future that is not
/// `Send` is reported on the user's function.
pub(crate) fn boxed(function: &ItemFn, future: TokenStream) -> TokenStream {
    quote_spanned! {located_at(function.sig.ident.span())=>
        ::std::boxed::Box::pin(#future)
    }
}

/// `#function::<T>` (or `::<T, _>` for `Result`s) when the type can be named, spanned at the
/// type, so an unmet bound of the runtime function is reported at the user's type too.
pub(crate) fn turbofish(
    private: &TokenStream,
    function: &str,
    ty: Option<&Type>,
    fallible: bool,
) -> TokenStream {
    let function = Ident::new(function, Span::call_site());
    match ty {
        Some(ty) if fallible => {
            quote_spanned! {type_span(ty)=> #private::#function::<#ty, _> }
        }
        Some(ty) => quote_spanned! {type_span(ty)=> #private::#function::<#ty> },
        None => quote!(#private::#function),
    }
}

/// The context variable, located at the user's parameter type: a type mismatch of the
/// argument is reported there instead of at the attribute.
pub(crate) fn context_argument(at: &Type) -> TokenStream {
    Ident::new("__durable_ctx", type_span(at)).into_token_stream()
}

/// A span that resolves names like the macro's own tokens (so hygiene does not depend on
/// where the user's tokens came from, e.g. a `macro_rules!`) but points at `location`.
pub(crate) fn located_at(location: Span) -> Span {
    Span::call_site().located_at(location)
}

/// Where a type is, for errors about it: its first token on stable Rust.
fn type_span(ty: &Type) -> Span {
    located_at(syn::spanned::Spanned::span(ty))
}

/// The user's function unchanged, followed by the errors (as `compile_error!`s), so other
/// diagnostics and IDE features keep working.
pub(crate) fn with_errors(original: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    quote! {
        #original
        #errors
    }
}
