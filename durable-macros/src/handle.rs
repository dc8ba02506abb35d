//! The typed handle: the user's function moves to a hidden name, and a `const` with the
//! function's name, visibility and docs holds an `ActivityHandle` / `OrchestratorHandle` to
//! it. The handle dereferences to a function pointer, so the function stays callable as
//! written, and `ctx.call(handle, input)` checks the input and output types.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Attribute, ItemFn, Type, Visibility};

use crate::Kind;
use crate::emit::{self, Registration};
use crate::signature::{self, Output};

/// The types of a handle, read from the function's signature.
pub(crate) struct Handle {
    kind: Kind,
    /// The parameter types, in order: the function pointer's parameters.
    params: Vec<Type>,
    /// `I`: the input type, `()` without one.
    input: Type,
    /// `O`: the success type.
    output: Type,
    /// The function's return type, `()` without one.
    returns: Type,
}

impl Handle {
    /// The handle of a function with these parameter types, input type and output. `None`
    /// when its return type cannot be named in a `const`'s type (`impl Trait`): such a
    /// function keeps its name and gets no handle.
    pub(crate) fn new(
        kind: Kind,
        function: &ItemFn,
        params: Vec<Type>,
        input: Option<Type>,
        output: &Output,
    ) -> Option<Handle> {
        let unit: Type = syn::parse_quote!(());
        let returns = match &function.sig.output {
            syn::ReturnType::Default => unit.clone(),
            syn::ReturnType::Type(_, ty) => (**ty).clone(),
        };
        if !signature::nameable(&returns) {
            return None;
        }
        let output = match output {
            Output::Unit => unit.clone(),
            Output::Value(ty) | Output::Fallible(Some(ty)) => ty.clone(),
            Output::Fallible(None) => return None,
        };
        Some(Handle {
            kind,
            params,
            input: input.unwrap_or(unit),
            output,
            returns,
        })
    }

    /// The user's function under its hidden name, then the handle `const` under its own.
    pub(crate) fn expand(&self, registration: &Registration) -> TokenStream {
        let function = &registration.function;
        let ident = &function.sig.ident;
        let hidden = hidden_ident(ident);
        let k = &registration.private;
        let krate = &registration.krate;

        let (handle_attrs, function_attrs) = split_attributes(&function.attrs);
        let mut renamed = function.clone();
        renamed.attrs = function_attrs;
        renamed.vis = Visibility::Inherited;
        renamed.sig.ident = hidden.clone();

        // Clients get no handle; only the two triggers reach here.
        let handle = match self.kind {
            Kind::Orchestration => quote!(OrchestratorHandle),
            Kind::Activity | Kind::Entity | Kind::Client => quote!(ActivityHandle),
        };
        let params = &self.params;
        let (input, output, returns) = (&self.input, &self.output, &self.returns);
        let pointer = quote!(fn(#(#params),*) -> #k::BoxFuture<#returns>);
        let arguments: Vec<Ident> = (0..params.len())
            .map(|i| Ident::new(&format!("__durable_arg{i}"), Span::call_site()))
            .collect();
        let boxed = self.boxed_call(registration, quote!(#(#arguments),*));
        let vis = &function.vis;
        // The item's span runs from its first to its last token: spanning those at the
        // function's, lints about the handle (`missing_docs`) point at the function.
        let first = function
            .sig
            .asyncness
            .map_or(function.sig.fn_token.span, |asyncness| asyncness.span);
        let const_token = quote_spanned!(first=> const);
        let semi = quote_spanned!(function.block.brace_token.span.close()=> ;);
        let name = &registration.name;
        quote! {
            #[doc(hidden)]
            #renamed

            #(#handle_attrs)*
            #[allow(
                dead_code,
                deprecated,
                non_upper_case_globals,
                unused_qualifications,
                clippy::all,
                clippy::pedantic,
                clippy::nursery,
            )]
            #vis #const_token #ident: #krate::#handle<#pointer, #input, #output> = {
                fn __durable_boxed(#(#arguments: #params),*) -> #k::BoxFuture<#returns> {
                    #boxed
                }
                #krate::#handle::new(#name, __durable_boxed as #pointer)
            } #semi
        }
    }

    /// `BoxFuture<R>` of a call of the renamed function, as the handle's pointer makes it.
    /// The invoker awaits the same expression, so a future that is not `Send` is reported
    /// once: both places produce the same diagnostic, which rustc emits once.
    pub(crate) fn boxed_call(
        &self,
        registration: &Registration,
        arguments: TokenStream,
    ) -> TokenStream {
        let k = &registration.private;
        let returns = &self.returns;
        let hidden = hidden_ident(registration.ident());
        let boxed = emit::boxed(&registration.function, quote!(#hidden(#arguments)));
        quote! {
            {
                let __durable_future: #k::BoxFuture<#returns> = #boxed;
                __durable_future
            }
        }
    }
}

/// The name the user's function is emitted under when it has a handle: the identifier
/// without `r#`, prefixed, at the identifier's span.
pub(crate) fn hidden_ident(ident: &Ident) -> Ident {
    Ident::new(&format!("__durable_fn_{}", ident.unraw()), ident.span())
}

/// Splits the function's attributes between the handle (the item users see and document:
/// docs, `#[deprecated]`, `#[cfg]`, `#[allow]`) and the renamed function (everything but
/// docs and `#[deprecated]`).
fn split_attributes(attrs: &[Attribute]) -> (Vec<Attribute>, Vec<Attribute>) {
    let mut handle = Vec::new();
    let mut function = Vec::new();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("doc") || path.is_ident("deprecated") {
            handle.push(attr.clone());
        } else {
            if path.is_ident("cfg") || path.is_ident("allow") {
                handle.push(attr.clone());
            }
            function.push(attr.clone());
        }
    }
    (handle, function)
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::{ToTokens, quote};

    use super::*;

    fn handle(item: TokenStream) -> Option<Handle> {
        let function: ItemFn = syn::parse2(item).expect("a function");
        let output = Output::of(&function.sig);
        Handle::new(Kind::Activity, &function, Vec::new(), None, &output)
    }

    #[test]
    fn reads_the_output_type() {
        let fallible = handle(quote!(
            async fn f() -> Result<Vec<u8>, E> {}
        ))
        .expect("a handle");
        assert_eq!(fallible.output.to_token_stream().to_string(), "Vec < u8 >");
        assert_eq!(
            fallible.returns.to_token_stream().to_string(),
            "Result < Vec < u8 > , E >"
        );
        assert_eq!(fallible.input.to_token_stream().to_string(), "()");
        let unit = handle(quote!(
            async fn f() {}
        ))
        .expect("a handle");
        assert_eq!(unit.output.to_token_stream().to_string(), "()");
        assert_eq!(unit.returns.to_token_stream().to_string(), "()");
    }

    #[test]
    fn no_handle_without_a_nameable_output() {
        assert!(
            handle(quote!(
                async fn f() -> impl Serialize {}
            ))
            .is_none()
        );
        assert!(
            handle(quote!(
                async fn f() -> Result<impl Serialize, E> {}
            ))
            .is_none()
        );
        assert!(
            handle(quote!(
                async fn f() -> io::Result {}
            ))
            .is_none()
        );
    }

    #[test]
    fn hidden_names_drop_raw_prefixes() {
        let ident: Ident = syn::parse_quote!(r#return);
        assert_eq!(hidden_ident(&ident).to_string(), "__durable_fn_return");
    }
}
