//! `#[activity_trigger]`: `async fn f()`, `async fn f(input: T)` or
//! `async fn f(ctx: ActivityContext, input: T)`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, Meta, Type};

use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::signature::{self, Output};
use crate::{Kind, args};

const KIND: Kind = Kind::Activity;

/// Expands `#[activity_trigger(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => emit::with_errors(item, error),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (metas, function) = crate::parse(KIND, args, item.clone())?;
    let activity = validate(metas, function)?;
    Ok(generate(&activity, item))
}

/// A validated activity.
struct Activity {
    registration: Registration,
    /// The type of the `ActivityContext` parameter, when there are two.
    context: Option<Type>,
    /// The type of the input parameter, when there is one.
    input: Option<Type>,
    output: Output,
}

fn validate(metas: Vec<Meta>, function: ItemFn) -> syn::Result<Activity> {
    let mut errors = Errors::default();
    let args = args::validate(KIND, metas, &mut errors);
    let name = args::function_name(KIND, args.name.as_ref(), &function.sig.ident, &mut errors);
    let mut params = signature::check(KIND, &function.sig, &mut errors).into_iter();
    let (context, input) = match (params.next(), params.next(), params.next()) {
        (None, _, _) => (None, None),
        (Some(input), None, _) => (None, Some(input.ty)),
        (Some(context), Some(input), None) => (Some(context.ty), Some(input.ty)),
        (Some(_), Some(_), Some(third)) => {
            errors.push(syn::Error::new_spanned(
                third.tokens,
                format!(
                    "too many parameters for {KIND}; expected `()`, `(input: T)` or `(ctx: ActivityContext, input: T)`"
                ),
            ));
            (None, None)
        }
    };
    errors.finish()?;
    let output = Output::of(&function.sig);
    Ok(Activity {
        registration: Registration::new(args.krate, name, function),
        context,
        input,
        output,
    })
}

fn generate(activity: &Activity, original: TokenStream) -> TokenStream {
    let registration = &activity.registration;
    let k = &registration.private;
    let ident = registration.ident();

    let decode = activity.input.as_ref().map(|ty| {
        let decode = emit::turbofish(k, "decode_activity_input", Some(ty), false);
        quote! {
            let __durable_input: #ty = match #decode(__durable_input) {
                ::core::result::Result::Ok(input) => input,
                ::core::result::Result::Err(failure) => return ::core::result::Result::Err(failure),
            };
        }
    });
    let arguments = match (&activity.context, &activity.input) {
        (Some(context), Some(_)) => {
            let context = emit::context_argument(context);
            quote!(#context, __durable_input)
        }
        (None, Some(_)) => quote!(__durable_input),
        _ => quote!(),
    };
    let output = &activity.output;
    let encode = if output.is_fallible() {
        emit::turbofish(k, "encode_activity_result", output.asserted_type(), true)
    } else {
        emit::turbofish(k, "encode_output", output.asserted_type(), false)
    };
    let future = quote! {
        async move {
            #decode
            #encode(#ident(#arguments).await)
        }
    };
    let boxed = emit::boxed(&registration.function, future);

    let mut checks = Vec::new();
    if let Some(ty) = &activity.context {
        checks.push(("assert_activity_context", ty));
    }
    if let Some(ty) = &activity.input {
        checks.push(("assert_input", ty));
    }
    if let Some(ty) = output.asserted_type() {
        checks.push(("assert_output", ty));
    }
    let assertions = emit::assertions(k, &checks);

    let descriptor = registration.descriptor(KIND, quote!(invoke: __durable_invoke,));
    registration.wrap(
        original,
        quote! {
            #assertions

            fn __durable_invoke(
                __durable_ctx: #k::ActivityContext,
                __durable_input: #k::Value,
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
        let item = quote!(
            async fn say_hello(city: String) -> String {
                format!("Hello {city}!")
            }
        );
        let expanded = expand(quote!(name = "SayHello"), item.clone()).to_string();
        let expected = quote! {
            #item

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
                    ::durable_runtime::__private::assert_input::<String>();
                    ::durable_runtime::__private::assert_output::<String>();
                }

                fn __durable_invoke(
                    __durable_ctx: ::durable_runtime::__private::ActivityContext,
                    __durable_input: ::durable_runtime::__private::Value,
                ) -> ::durable_runtime::__private::BoxFuture<::durable_runtime::__private::InvocationResult> {
                    ::std::boxed::Box::pin(async move {
                        let __durable_input: String = match ::durable_runtime::__private::decode_activity_input::<String>(__durable_input) {
                            ::core::result::Result::Ok(input) => input,
                            ::core::result::Result::Err(failure) => return ::core::result::Result::Err(failure),
                        };
                        ::durable_runtime::__private::encode_output::<String>(say_hello(__durable_input).await)
                    })
                }

                #[::durable_runtime::__private::linkme::distributed_slice(::durable_runtime::__private::ACTIVITIES)]
                #[linkme(crate = ::durable_runtime::__private::linkme)]
                static __DURABLE_DESCRIPTOR: ::durable_runtime::__private::ActivityDescriptor =
                    ::durable_runtime::__private::ActivityDescriptor {
                        name: "SayHello",
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
    fn default_name_is_the_identifier() {
        let expanded = expand(
            quote!(),
            quote!(
                async fn r#say_hello() {}
            ),
        )
        .to_string();
        assert_contains(&expanded, "name : \"say_hello\"");
        assert_contains(&expanded, "encode_output (r#say_hello () . await)");
        assert!(!expanded.contains("assert_output"), "{expanded}");
    }

    #[test]
    fn context_and_input() {
        let expanded = expand(
            quote!(),
            quote!(
                async fn f(ctx: ActivityContext, (a, b): (String, u8)) -> anyhow::Result<u8> {
                    Ok(b)
                }
            ),
        )
        .to_string();
        assert_contains(&expanded, "let __durable_input : (String , u8) =");
        assert_contains(&expanded, "f (__durable_ctx , __durable_input) . await");
        assert_contains(&expanded, "encode_activity_result :: < u8 , _ > (f (");
        assert_contains(
            &expanded,
            "assert_activity_context :: < ActivityContext > ()",
        );
        assert_contains(&expanded, "assert_input :: < (String , u8) > ()");
        assert_contains(&expanded, "assert_output :: < u8 > ()");
    }

    #[test]
    fn crate_path_is_used_everywhere() {
        let expanded = expand(
            quote!(crate = my::rt),
            quote!(
                async fn f() {}
            ),
        )
        .to_string();
        assert!(!expanded.contains("durable_runtime"), "{expanded}");
        assert_contains(
            &expanded,
            "# [linkme (crate = my :: rt :: __private :: linkme)]",
        );
    }

    #[test]
    fn cfg_attributes_are_repeated_on_the_registration() {
        let expanded = expand(
            quote!(),
            quote!(
                #[cfg(feature = "x")]
                async fn f() {}
            ),
        )
        .to_string();
        assert_eq!(expanded.matches("# [cfg (feature = \"x\")]").count(), 2);
    }

    #[test]
    fn too_many_parameters() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    async fn f(a: A, b: B, c: C) {}
                )
            ),
            [
                "too many parameters for `#[activity_trigger]`; expected `()`, `(input: T)` or `(ctx: ActivityContext, input: T)`"
            ]
        );
    }

    #[test]
    fn all_errors_at_once_and_the_function_is_kept() {
        let item = quote!(
            fn f<T>(a: T, b: B, c: C) {}
        );
        let expanded = expand(quote!(foo, name = 1), item.clone()).to_string();
        assert!(expanded.starts_with(&item.to_string()), "{expanded}");
        assert!(!expanded.contains("__durable"), "{expanded}");
        assert_eq!(expanded.matches("compile_error").count(), 5, "{expanded}");
    }
}
