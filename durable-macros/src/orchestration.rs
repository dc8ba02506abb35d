//! `#[orchestration_trigger]`: `async fn f(ctx: OrchestrationContext)` or
//! `async fn f(ctx: OrchestrationContext, input: T)`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, Meta, Type};

use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::handle::Handle;
use crate::signature::{self, Output};
use crate::{Kind, args};

const KIND: Kind = Kind::Orchestration;

/// Expands `#[orchestration_trigger(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => emit::with_errors(crate::determinism::unmarked(item), error),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (metas, function) = crate::parse(KIND, args, item)?;
    let orchestrator = validate(metas, function)?;
    Ok(generate(&orchestrator))
}

/// A validated orchestrator.
struct Orchestrator {
    registration: Registration,
    /// The type of the first parameter, which must be `OrchestrationContext` (rustc checks).
    context: Type,
    /// The type of the input parameter, when there is one.
    input: Option<Type>,
    output: Output,
    /// The typed handle, unless the return type cannot be named.
    handle: Option<Handle>,
}

fn validate(metas: Vec<Meta>, mut function: ItemFn) -> syn::Result<Orchestrator> {
    let mut errors = Errors::default();
    crate::determinism::check(&mut function.block, &mut errors);
    let args = args::validate(KIND, metas, &mut errors);
    let name = args::function_name(KIND, args.name.as_ref(), &function.sig.ident, &mut errors);
    let mut params = signature::check(KIND, &function.sig, &mut errors).into_iter();
    let (context, input) = match (params.next(), params.next(), params.next()) {
        (None, _, _) => {
            errors.push(syn::Error::new(
                signature::parens_span(&function.sig),
                format!(
                    "the first parameter of an {KIND} function must be `OrchestrationContext`; expected `(ctx: OrchestrationContext)` or `(ctx: OrchestrationContext, input: T)`"
                ),
            ));
            (None, None)
        }
        (Some(context), None, _) => (Some(context.ty), None),
        (Some(context), Some(input), None) => (Some(context.ty), Some(input.ty)),
        (Some(_), Some(_), Some(third)) => {
            errors.push(syn::Error::new_spanned(
                third.tokens,
                format!(
                    "too many parameters for {KIND}; expected `(ctx: OrchestrationContext)` or `(ctx: OrchestrationContext, input: T)`"
                ),
            ));
            (None, None)
        }
    };
    errors.finish()?;
    let context = context.ok_or_else(|| {
        syn::Error::new(
            signature::parens_span(&function.sig),
            format!("missing `OrchestrationContext` parameter for {KIND}"),
        )
    })?;
    let output = Output::of(&function.sig);
    let params = std::iter::once(&context).chain(&input).cloned().collect();
    let handle = Handle::new(KIND, &function, params, input.clone(), &output);
    Ok(Orchestrator {
        registration: Registration::new(args.krate, name, function),
        context,
        input,
        output,
        handle,
    })
}

fn generate(orchestrator: &Orchestrator) -> TokenStream {
    let registration = &orchestrator.registration;
    let k = &registration.private;

    let context = emit::context_argument(&orchestrator.context);
    let (decode, arguments) = match &orchestrator.input {
        Some(ty) => {
            let decode = emit::turbofish(k, "decode_orchestration_input", Some(ty), false);
            (
                quote! {
                    let __durable_input: #ty = match #decode(&__durable_ctx) {
                        ::core::result::Result::Ok(input) => input,
                        ::core::result::Result::Err(failure) => return ::core::result::Result::Err(failure),
                    };
                },
                quote!(#context, __durable_input),
            )
        }
        None => (quote!(), context),
    };
    let output = &orchestrator.output;
    let encode = if output.is_fallible() {
        emit::turbofish(
            k,
            "encode_orchestration_result",
            output.asserted_type(),
            true,
        )
    } else {
        emit::turbofish(k, "encode_output", output.asserted_type(), false)
    };
    let call = match &orchestrator.handle {
        Some(handle) => handle.boxed_call(registration, arguments),
        None => {
            let ident = registration.ident();
            quote!(#ident(#arguments))
        }
    };
    let future = quote! {
        async move {
            #decode
            #encode(#call.await)
        }
    };
    let boxed = emit::boxed(&registration.function, future);

    let mut checks = vec![("assert_orchestration_context", &orchestrator.context)];
    if let Some(ty) = &orchestrator.input {
        checks.push(("assert_input", ty));
    }
    if let Some(ty) = output.asserted_type() {
        checks.push(("assert_output", ty));
    }
    let assertions = emit::assertions(k, &checks);

    let descriptor = registration.descriptor(KIND, quote!(invoke: __durable_invoke,));
    // The parsed function, not the original tokens: the allow markers are gone from it.
    let function = match &orchestrator.handle {
        Some(handle) => handle.expand(registration),
        None => {
            let function = &registration.function;
            quote!(#function)
        }
    };
    registration.wrap(
        function,
        quote! {
            #assertions

            fn __durable_invoke(
                __durable_ctx: #k::OrchestrationContext,
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
    fn expands_to_the_function_a_handle_and_a_descriptor() {
        let expanded = expand(
            quote!(name = "HelloCities"),
            quote!(
                async fn hello_cities(
                    ctx: OrchestrationContext,
                ) -> Result<Vec<String>, DurableError> {
                    Ok(Vec::new())
                }
            ),
        )
        .to_string();
        let expected = quote! {
            #[doc(hidden)]
            async fn __durable_fn_hello_cities(ctx: OrchestrationContext,) -> Result<Vec<String>, DurableError> {
                Ok(Vec::new())
            }

            #[allow(
                dead_code,
                deprecated,
                non_upper_case_globals,
                unused_qualifications,
                clippy::all,
                clippy::pedantic,
                clippy::nursery,
            )]
            const hello_cities: ::durable_runtime::OrchestratorHandle<
                fn(OrchestrationContext) -> ::durable_runtime::__private::BoxFuture<Result<Vec<String>, DurableError> >,
                (),
                Vec<String>
            > = {
                fn __durable_boxed(
                    __durable_arg0: OrchestrationContext
                ) -> ::durable_runtime::__private::BoxFuture<Result<Vec<String>, DurableError> > {
                    {
                        let __durable_future: ::durable_runtime::__private::BoxFuture<Result<Vec<String>, DurableError> > =
                            ::std::boxed::Box::pin(__durable_fn_hello_cities(__durable_arg0));
                        __durable_future
                    }
                }
                ::durable_runtime::OrchestratorHandle::new(
                    "HelloCities",
                    __durable_boxed as fn(OrchestrationContext) -> ::durable_runtime::__private::BoxFuture<Result<Vec<String>, DurableError> >
                )
            };

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
                fn __durable_assertions() {
                    ::durable_runtime::__private::assert_orchestration_context::<OrchestrationContext>();
                    ::durable_runtime::__private::assert_output::<Vec<String> >();
                }

                fn __durable_invoke(
                    __durable_ctx: ::durable_runtime::__private::OrchestrationContext,
                ) -> ::durable_runtime::__private::BoxFuture<::durable_runtime::__private::InvocationResult> {
                    ::std::boxed::Box::pin(async move {
                        ::durable_runtime::__private::encode_orchestration_result::<Vec<String>, _>({
                            let __durable_future: ::durable_runtime::__private::BoxFuture<Result<Vec<String>, DurableError> > =
                                ::std::boxed::Box::pin(__durable_fn_hello_cities(__durable_ctx));
                            __durable_future
                        }.await)
                    })
                }

                #[::durable_runtime::__private::linkme::distributed_slice(::durable_runtime::__private::ORCHESTRATORS)]
                #[linkme(crate = ::durable_runtime::__private::linkme)]
                static __DURABLE_DESCRIPTOR: ::durable_runtime::__private::OrchestratorDescriptor =
                    ::durable_runtime::__private::OrchestratorDescriptor {
                        name: "HelloCities",
                        location: ::durable_runtime::__private::SourceLocation {
                            file: ::core::file!(),
                            line: ::core::line!()
                        },
                        invoke: __durable_invoke,
                    };
            };
        };
        assert_eq!(expanded, expected.to_string());
    }

    #[test]
    fn input_is_decoded_from_the_context() {
        let expanded = expand(
            quote!(),
            quote!(
                async fn f(context: OrchestrationContext, Point { x, y }: Point) -> u8 {
                    x
                }
            ),
        )
        .to_string();
        assert_contains(
            &expanded,
            "let __durable_input : Point = match :: durable_runtime :: __private :: decode_orchestration_input :: < Point > (& __durable_ctx)",
        );
        assert_contains(
            &expanded,
            ":: durable_runtime :: __private :: encode_output :: < u8 > ({",
        );
        assert_contains(
            &expanded,
            "Box :: pin (__durable_fn_f (__durable_ctx , __durable_input))",
        );
        assert_contains(
            &expanded,
            "const f : :: durable_runtime :: OrchestratorHandle < fn (OrchestrationContext , Point) -> :: durable_runtime :: __private :: BoxFuture < u8 > , Point , u8 >",
        );
        assert_contains(&expanded, "assert_input :: < Point > ()");
        assert_contains(&expanded, "assert_output :: < u8 > ()");
        assert_contains(&expanded, "name : \"f\"");
    }

    #[test]
    fn unit_orchestrators_have_unit_types() {
        let expanded = expand(
            quote!(),
            quote!(
                async fn f(ctx: OrchestrationContext) {}
            ),
        )
        .to_string();
        assert_contains(
            &expanded,
            "const f : :: durable_runtime :: OrchestratorHandle < fn (OrchestrationContext) -> :: durable_runtime :: __private :: BoxFuture < () > , () , () >",
        );
    }

    #[test]
    fn the_context_is_taken_by_position() {
        let expanded = expand(
            quote!(),
            quote!(
                async fn f(x: MyCtx) {}
            ),
        )
        .to_string();
        assert_contains(&expanded, "assert_orchestration_context :: < MyCtx > ()");
    }

    #[test]
    fn requires_a_context_parameter() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f() {}
                )
            ),
            [
                "the first parameter of an `#[orchestration_trigger]` function must be `OrchestrationContext`; expected `(ctx: OrchestrationContext)` or `(ctx: OrchestrationContext, input: T)`"
            ]
        );
    }

    #[test]
    fn too_many_parameters() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f(a: A, b: B, c: C, d: D) {}
                )
            ),
            [
                "too many parameters for `#[orchestration_trigger]`; expected `(ctx: OrchestrationContext)` or `(ctx: OrchestrationContext, input: T)`"
            ]
        );
    }

    #[test]
    fn shape_errors() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    fn f(ctx: OrchestrationContext) {}
                )
            ),
            ["`#[orchestration_trigger]` functions must be `async`; expected `async fn`"]
        );
        assert_eq!(
            messages(
                expand,
                quote!(bad = 1),
                quote!(
                    async fn f(&self) {}
                )
            ),
            [
                "unknown attribute `bad` is specified for `#[orchestration_trigger]`; expected one of: `name`, `crate`",
                "`#[orchestration_trigger]` cannot be applied to a method; expected a free function without a `self` parameter",
                "the first parameter of an `#[orchestration_trigger]` function must be `OrchestrationContext`; expected `(ctx: OrchestrationContext)` or `(ctx: OrchestrationContext, input: T)`",
            ]
        );
    }
}
