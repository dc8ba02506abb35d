//! `#[activity_trigger]`: `async fn f()`, `async fn f(input: T)` or
//! `async fn f(ctx: ActivityContext, input: T)`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, Meta, Type};

use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::handle::Handle;
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
    /// The typed handle, unless the return type cannot be named.
    handle: Option<Handle>,
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
    let params = context.iter().chain(&input).cloned().collect();
    let handle = Handle::new(KIND, &function, params, input.clone(), &output);
    Ok(Activity {
        registration: Registration::new(args.krate, name, function),
        context,
        input,
        output,
        handle,
    })
}

fn generate(activity: &Activity, original: TokenStream) -> TokenStream {
    let registration = &activity.registration;
    let k = &registration.private;

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
    let call = match &activity.handle {
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
    let function = match &activity.handle {
        Some(handle) => handle.expand(registration),
        None => original,
    };
    registration.wrap(
        function,
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
    fn expands_to_the_function_a_handle_and_a_descriptor() {
        let expanded = expand(
            quote!(name = "SayHello"),
            quote!(
                /// Greets a city.
                #[inline]
                pub async fn say_hello(city: String) -> String {
                    format!("Hello {city}!")
                }
            ),
        )
        .to_string();
        let expected = quote! {
            #[doc(hidden)]
            #[inline]
            async fn __durable_fn_say_hello(city: String) -> String {
                format!("Hello {city}!")
            }

            /// Greets a city.
            #[allow(
                dead_code,
                deprecated,
                non_upper_case_globals,
                unused_qualifications,
                clippy::all,
                clippy::pedantic,
                clippy::nursery,
            )]
            pub const say_hello: ::durable_runtime::ActivityHandle<
                fn(String) -> ::durable_runtime::__private::BoxFuture<String>,
                String,
                String
            > = {
                fn __durable_boxed(__durable_arg0: String) -> ::durable_runtime::__private::BoxFuture<String> {
                    {
                        let __durable_future: ::durable_runtime::__private::BoxFuture<String> =
                            ::std::boxed::Box::pin(__durable_fn_say_hello(__durable_arg0));
                        __durable_future
                    }
                }
                ::durable_runtime::ActivityHandle::new(
                    "SayHello",
                    __durable_boxed as fn(String) -> ::durable_runtime::__private::BoxFuture<String>
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
                        ::durable_runtime::__private::encode_output::<String>({
                            let __durable_future: ::durable_runtime::__private::BoxFuture<String> =
                                ::std::boxed::Box::pin(__durable_fn_say_hello(__durable_input));
                            __durable_future
                        }.await)
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
                async fn r#return() {}
            ),
        )
        .to_string();
        assert_contains(&expanded, "name : \"return\"");
        assert_contains(&expanded, "async fn __durable_fn_return ()");
        assert_contains(
            &expanded,
            "const r#return : :: durable_runtime :: ActivityHandle < fn () -> :: durable_runtime :: __private :: BoxFuture < () > , () , () >",
        );
        assert_contains(&expanded, "Box :: pin (__durable_fn_return ())");
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
        assert_contains(
            &expanded,
            "Box :: pin (__durable_fn_f (__durable_ctx , __durable_input))",
        );
        assert_contains(&expanded, "encode_activity_result :: < u8 , _ > ({");
        assert_contains(
            &expanded,
            "const f : :: durable_runtime :: ActivityHandle < fn (ActivityContext , (String , u8)) -> :: durable_runtime :: __private :: BoxFuture < anyhow :: Result < u8 > > , (String , u8) , u8 >",
        );
        assert_contains(
            &expanded,
            "fn __durable_boxed (__durable_arg0 : ActivityContext , __durable_arg1 : (String , u8))",
        );
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
        assert_contains(&expanded, "const f : my :: rt :: ActivityHandle <");
        assert_contains(&expanded, "my :: rt :: ActivityHandle :: new (");
    }

    #[test]
    fn cfg_attributes_are_repeated_on_the_handle_and_the_registration() {
        let expanded = expand(
            quote!(),
            quote!(
                #[cfg(feature = "x")]
                async fn f() {}
            ),
        )
        .to_string();
        assert_eq!(expanded.matches("# [cfg (feature = \"x\")]").count(), 3);
    }

    #[test]
    fn the_handle_takes_the_functions_visibility_docs_and_deprecation() {
        let expanded = expand(
            quote!(),
            quote!(
                #[doc = "Docs."]
                #[deprecated]
                #[allow(clippy::unused_async)]
                #[must_use]
                pub(crate) async fn f() -> u8 {
                    1
                }
            ),
        )
        .to_string();
        assert_contains(
            &expanded,
            "# [doc (hidden)] # [allow (clippy :: unused_async)] # [must_use] async fn __durable_fn_f () -> u8",
        );
        assert_contains(
            &expanded,
            "# [doc = \"Docs.\"] # [deprecated] # [allow (clippy :: unused_async)] # [allow (dead_code ,",
        );
        assert_contains(&expanded, "pub (crate) const f :");
        assert_eq!(expanded.matches("pub (crate)").count(), 1, "{expanded}");
    }

    #[test]
    fn unnameable_outputs_get_no_handle() {
        let item = quote!(
            async fn f() -> impl serde::Serialize {
                1
            }
        );
        let expanded = expand(quote!(), item.clone()).to_string();
        assert!(expanded.starts_with(&item.to_string()), "{expanded}");
        assert!(!expanded.contains("ActivityHandle"), "{expanded}");
        assert_contains(&expanded, "encode_output (f () . await)");
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
