//! `#[entity_trigger]`: `async fn f(ctx: EntityContext<S>)` or the same without `async`,
//! returning `()` or `Result<(), E>`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, Meta, Type};

use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::signature::{self, Output};
use crate::{Kind, args};

const KIND: Kind = Kind::Entity;

/// Expands `#[entity_trigger(args)] item`; an `impl` block is a typed entity, expanded by
/// [`entity_impl`](crate::entity_impl).
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    if crate::entity_impl::is_impl(&item) {
        return crate::entity_impl::expand(args, item);
    }
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => emit::with_errors(item, error),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (metas, function) = crate::parse(KIND, args, item.clone())?;
    let entity = validate(metas, function)?;
    Ok(generate(&entity, item))
}

/// A validated entity function.
struct Entity {
    registration: Registration,
    /// The type of the `EntityContext<S>` parameter.
    context: Type,
    output: Output,
    is_async: bool,
}

fn validate(metas: Vec<Meta>, function: ItemFn) -> syn::Result<Entity> {
    let mut errors = Errors::default();
    let args = args::validate(KIND, metas, &mut errors);
    let name = args::function_name(KIND, args.name.as_ref(), &function.sig.ident, &mut errors);
    let mut params = signature::check(KIND, &function.sig, &mut errors).into_iter();
    let context = match (params.next(), params.next()) {
        (Some(context), None) => Some(context.ty),
        (None, _) => {
            errors.push(syn::Error::new(
                signature::parens_span(&function.sig),
                format!("{KIND} functions take one parameter; expected `(ctx: EntityContext<S>)`"),
            ));
            None
        }
        (Some(_), Some(second)) => {
            errors.push(syn::Error::new_spanned(
                second.tokens,
                format!(
                    "too many parameters for {KIND}; expected `(ctx: EntityContext<S>)`, with the operation's input read by `ctx.get_input()`"
                ),
            ));
            None
        }
    };
    let output = Output::of(&function.sig);
    if let (Output::Value(ty), syn::ReturnType::Type(_, _)) = (&output, &function.sig.output) {
        errors.push(syn::Error::new_spanned(
            ty,
            format!(
                "{KIND} functions return `()` or `Result<(), E>`; set the value a caller receives with `ctx.return_value(..)`"
            ),
        ));
    }
    errors.finish()?;
    let Some(context) = context else {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("{KIND} could not read its parameter"),
        ));
    };
    Ok(Entity {
        is_async: function.sig.asyncness.is_some(),
        registration: Registration::new(args.krate, name, function),
        context,
        output,
    })
}

fn generate(entity: &Entity, original: TokenStream) -> TokenStream {
    let registration = &entity.registration;
    let k = &registration.private;
    let context = &entity.context;
    let argument = emit::context_argument(context);
    let ident = registration.ident();
    let call = if entity.is_async {
        quote!(#ident(#argument).await)
    } else {
        quote!(#ident(#argument))
    };
    let encode = if entity.output.is_fallible() {
        quote!(#k::encode_activity_result::<(), _>)
    } else {
        quote!(#k::encode_output::<()>)
    };
    let future = quote! {
        async move {
            let #argument: #context = match <#context>::from_operation(__durable_operation) {
                ::core::result::Result::Ok(__durable_ready) => __durable_ready,
                ::core::result::Result::Err(__durable_failure) => {
                    return ::core::result::Result::Err(__durable_failure);
                }
            };
            #encode(#call)
        }
    };
    let boxed = emit::boxed(&registration.function, future);
    let descriptor = registration.descriptor(KIND, quote!(invoke: __durable_invoke,));
    registration.wrap(
        original,
        quote! {
            fn __durable_invoke(
                __durable_operation: #k::EntityOperation,
            ) -> #k::BoxFuture<#k::InvocationResult> {
                #boxed
            }

            #descriptor
        },
    )
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::tests::{assert_contains, messages};

    #[test]
    fn expands_to_the_function_and_a_descriptor() {
        let expanded = expand(
            quote!(name = "Counter"),
            quote!(
                async fn counter(mut ctx: EntityContext<i64>) {
                    *ctx.state_mut() += 1;
                }
            ),
        )
        .to_string();
        let expected = quote! {
            async fn counter(mut ctx: EntityContext<i64>) {
                *ctx.state_mut() += 1;
            }
        }
        .to_string();
        assert!(expanded.starts_with(&expected), "{expanded}");
        assert_contains(
            &expanded,
            &quote!(
                fn __durable_invoke(
                    __durable_operation: ::durable_runtime::__private::EntityOperation,
                ) -> ::durable_runtime::__private::BoxFuture<::durable_runtime::__private::InvocationResult>
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            "let __durable_ctx : EntityContext < i64 > = match < EntityContext < i64 > > :: from_operation (__durable_operation)",
        );
        assert_contains(
            &expanded,
            &quote!(::durable_runtime::__private::encode_output::<()>(
                counter(__durable_ctx).await
            ))
            .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(#[::durable_runtime::__private::linkme::distributed_slice(::durable_runtime::__private::ENTITIES)])
                .to_string(),
        );
        assert_contains(&expanded, "name : \"Counter\"");
    }

    #[test]
    fn plain_functions_and_results_are_accepted() {
        let expanded = expand(
            quote!(),
            quote!(
                fn counter(ctx: EntityContext<i64>) -> Result<(), DurableError> {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert_contains(
            &expanded,
            &quote!(
                ::durable_runtime::__private::encode_activity_result::<(), _>(counter(
                    __durable_ctx
                ))
            )
            .to_string(),
        );
        assert_contains(&expanded, "name : \"counter\"");
    }

    #[test]
    fn the_parameter_and_output_are_checked() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f() {}
                )
            ),
            [
                "`#[entity_trigger]` functions take one parameter; expected `(ctx: EntityContext<S>)`"
            ]
        );
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f(ctx: EntityContext<i64>, input: i64) {}
                )
            ),
            [
                "too many parameters for `#[entity_trigger]`; expected `(ctx: EntityContext<S>)`, with the operation's input read by `ctx.get_input()`"
            ]
        );
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f(ctx: EntityContext<i64>) -> i64 {
                        1
                    }
                )
            ),
            [
                "`#[entity_trigger]` functions return `()` or `Result<(), E>`; set the value a caller receives with `ctx.return_value(..)`"
            ]
        );
    }
}
