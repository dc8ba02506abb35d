//! The annotated function: parsing it and checking its shape. Types are left to rustc; the
//! generated assertions make its errors land on the user's types.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Signature, Type};

use crate::Kind;
use crate::diag::Errors;

/// Parses the item an attribute is applied to; only functions are accepted.
pub(crate) fn parse(kind: Kind, item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<syn::Item>(item) {
        Ok(syn::Item::Fn(function)) => Ok(function),
        Ok(other) if kind == Kind::Entity => Err(syn::Error::new_spanned(
            item_head(&other),
            format!(
                "{kind} can only be applied to a function or an inherent `impl` block; expected `fn {}(ctx: EntityContext<S>)` or `impl Account {{ .. }}`",
                kind.example_ident()
            ),
        )),
        Ok(other) => Err(syn::Error::new_spanned(
            item_head(&other),
            format!(
                "{kind} can only be applied to an `async fn`; expected `async fn {}(...)`",
                kind.example_ident()
            ),
        )),
        Err(e) => Err(syn::Error::new(
            e.span(),
            format!("{kind} can only be applied to an `async fn`: {e}"),
        )),
    }
}

/// The tokens that name an item (`struct Foo`), for pointing at it without underlining its
/// whole body.
fn item_head(item: &syn::Item) -> TokenStream {
    let mut head = TokenStream::new();
    for token in quote::ToTokens::to_token_stream(item) {
        let stop = matches!(&token, TokenTree::Group(g) if g.delimiter() != proc_macro2::Delimiter::Bracket)
            || matches!(&token, TokenTree::Punct(p) if p.as_char() == ';' || p.as_char() == '=');
        if stop {
            break;
        }
        head.extend([token]);
    }
    if head.is_empty() {
        quote::ToTokens::to_token_stream(item)
    } else {
        head
    }
}

/// One declared parameter: its type, which is all the expansion needs.
pub(crate) struct Param {
    /// The declared type, as written.
    pub(crate) ty: Type,
    /// Where to point when the parameter as a whole is wrong.
    pub(crate) tokens: TokenStream,
}

/// Checks what every attribute requires: `async`, no generics, no `self`, no variadics, no
/// `impl Trait` parameters. Returns the typed parameters, in order.
pub(crate) fn check(kind: Kind, sig: &Signature, errors: &mut Errors) -> Vec<Param> {
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            format!("{kind} functions cannot be `const`; expected `async fn`"),
        ));
    }
    if sig.asyncness.is_none() && kind != Kind::Entity {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            format!("{kind} functions must be `async`; expected `async fn`"),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            format!("{kind} functions cannot be `unsafe`; expected a safe `async fn`"),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "{kind} functions cannot be generic; expected no type, lifetime or const parameters"
            ),
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            format!("{kind} functions cannot have a `where` clause; expected concrete types"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("{kind} functions cannot be variadic; expected a fixed list of parameters"),
        ));
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                format!(
                    "{kind} cannot be applied to a method; expected a free function without a `self` parameter"
                ),
            )),
            FnArg::Typed(typed) => {
                if let Type::ImplTrait(_) = strip(&typed.ty) {
                    errors.push(syn::Error::new_spanned(
                        &typed.ty,
                        format!(
                            "{kind} functions cannot take `impl Trait` parameters; expected a concrete type"
                        ),
                    ));
                }
                params.push(Param {
                    ty: (*typed.ty).clone(),
                    tokens: quote::ToTokens::to_token_stream(typed),
                });
            }
        }
    }
    params
}

/// The span of a function's parameter list, for "missing parameter" errors.
pub(crate) fn parens_span(sig: &Signature) -> Span {
    sig.paren_token.span.join()
}

/// What the function returns, read from the syntax.
pub(crate) enum Output {
    /// No return type: `()`.
    Unit,
    /// A plain value.
    Value(Type),
    /// A type whose last path segment is `Result`: `Result<T, E>`, `anyhow::Result<T>`.
    /// Holds `T` when it can be read (the first type argument).
    Fallible(Option<Type>),
}

impl Output {
    /// Classifies the return type: fallible when, as written, it is a path whose last segment
    /// is `Result`.
    pub(crate) fn of(sig: &Signature) -> Output {
        let ReturnType::Type(_, ty) = &sig.output else {
            return Output::Unit;
        };
        let Type::Path(path) = strip(ty) else {
            return Output::Value((**ty).clone());
        };
        let last = match path.path.segments.last() {
            Some(last) if path.qself.is_none() && last.ident == "Result" => last,
            _ => return Output::Value((**ty).clone()),
        };
        let ok = match &last.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            }),
            _ => None,
        };
        Output::Fallible(ok)
    }

    /// The success type worth asserting `Serialize` on: known, and without `impl Trait` or
    /// `_`, which cannot be named in a turbofish.
    pub(crate) fn asserted_type(&self) -> Option<&Type> {
        match self {
            Output::Unit | Output::Fallible(None) => None,
            Output::Value(ty) | Output::Fallible(Some(ty)) => nameable(ty).then_some(ty),
        }
    }

    /// Whether the function returns a `Result`.
    pub(crate) fn is_fallible(&self) -> bool {
        matches!(self, Output::Fallible(_))
    }
}

/// Whether a type can be written in a turbofish: no `impl Trait`, no `_`.
pub(crate) fn nameable(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().all(|token| match token {
            TokenTree::Ident(ident) => ident != "impl",
            TokenTree::Punct(punct) => punct.as_char() != '_',
            TokenTree::Group(group) => walk(group.stream()),
            TokenTree::Literal(_) => true,
        })
    }
    walk(quote::ToTokens::to_token_stream(ty)) && !matches!(strip(ty), Type::Infer(_))
}

/// Looks through `(T)` and the invisible groups `macro_rules!` wraps `$t:ty` in.
fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip(&group.elem),
        Type::Paren(paren) => strip(&paren.elem),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    fn messages(item: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        match parse(Kind::Activity, item) {
            Ok(function) => {
                check(Kind::Activity, &function.sig, &mut errors);
            }
            Err(e) => errors.push(e),
        }
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn output(item: TokenStream) -> Output {
        let function: ItemFn = syn::parse2(item).expect("a function");
        Output::of(&function.sig)
    }

    fn tokens(ty: Option<&Type>) -> Option<String> {
        ty.map(|ty| ty.to_token_stream().to_string())
    }

    #[test]
    fn accepts_async_functions_with_any_patterns() {
        assert!(
            messages(quote!(
                async fn f() {}
            ))
            .is_empty()
        );
        assert!(
            messages(quote!(
                pub async fn f((a, b): (String, u8)) -> u8 {
                    b
                }
            ))
            .is_empty()
        );
        assert!(
            messages(quote!(
                async fn f(Point { x, y }: Point, mut z: u8) {}
            ))
            .is_empty()
        );
    }

    #[test]
    fn rejects_non_functions() {
        assert_eq!(
            messages(quote!(
                struct S;
            )),
            [
                "`#[activity_trigger]` can only be applied to an `async fn`; expected `async fn say_hello(...)`"
            ]
        );
        let trait_method = messages(quote!(
            fn f();
        ));
        assert_eq!(trait_method.len(), 1);
        assert!(
            trait_method[0]
                .starts_with("`#[activity_trigger]` can only be applied to an `async fn`")
        );
    }

    #[test]
    fn requires_async() {
        assert_eq!(
            messages(quote!(
                fn f() {}
            )),
            ["`#[activity_trigger]` functions must be `async`; expected `async fn`"]
        );
    }

    #[test]
    fn rejects_generics_self_variadics_and_impl_trait() {
        assert_eq!(
            messages(quote!(
                async fn f<T>(x: T) {}
            )),
            [
                "`#[activity_trigger]` functions cannot be generic; expected no type, lifetime or const parameters"
            ]
        );
        assert_eq!(
            messages(quote!(
                async fn f(&self) {}
            )),
            [
                "`#[activity_trigger]` cannot be applied to a method; expected a free function without a `self` parameter"
            ]
        );
        assert_eq!(
            messages(quote!(
                async fn f(x: impl Send) {}
            )),
            [
                "`#[activity_trigger]` functions cannot take `impl Trait` parameters; expected a concrete type"
            ]
        );
        assert_eq!(
            messages(quote!(
                async fn f()
                where
                    u8: Copy,
                {
                }
            )),
            [
                "`#[activity_trigger]` functions cannot have a `where` clause; expected concrete types"
            ]
        );
        assert_eq!(
            messages(quote!(
                async unsafe fn f() {}
            )),
            ["`#[activity_trigger]` functions cannot be `unsafe`; expected a safe `async fn`"]
        );
    }

    #[test]
    fn reports_every_problem() {
        assert_eq!(
            messages(quote!(
                unsafe fn f<'a>(&self) {}
            ))
            .len(),
            4
        );
    }

    #[test]
    fn classifies_return_types() {
        assert!(matches!(
            output(quote!(
                async fn f() {}
            )),
            Output::Unit
        ));
        let Output::Value(ty) = output(quote!(
            async fn f() -> Vec<String> {
                todo!()
            }
        )) else {
            panic!("a plain value");
        };
        assert_eq!(ty.to_token_stream().to_string(), "Vec < String >");
        let fallible = output(quote!(
            async fn f() -> Result<u8, MyError> {
                todo!()
            }
        ));
        assert!(fallible.is_fallible());
        assert_eq!(tokens(fallible.asserted_type()).as_deref(), Some("u8"));
        let anyhow = output(quote!(
            async fn f() -> anyhow::Result<Vec<u8>> {
                todo!()
            }
        ));
        assert_eq!(
            tokens(anyhow.asserted_type()).as_deref(),
            Some("Vec < u8 >")
        );
        let bare = output(quote!(
            async fn f() -> io::Result {
                todo!()
            }
        ));
        assert!(bare.is_fallible());
        assert!(bare.asserted_type().is_none());
        let alias = output(quote!(
            async fn f() -> MyResult<u8> {
                todo!()
            }
        ));
        assert!(!alias.is_fallible());
    }

    #[test]
    fn does_not_assert_unnameable_outputs() {
        let opaque = output(quote!(
            async fn f() -> impl Serialize {
                1
            }
        ));
        assert!(!opaque.is_fallible());
        assert!(opaque.asserted_type().is_none());
        let nested = output(quote!(
            async fn f() -> Result<Vec<impl Serialize>, E> {
                todo!()
            }
        ));
        assert!(nested.asserted_type().is_none());
    }
}
