//! `#[client(http(route = "...", methods = [...]))]`: an axum handler mounted by the host.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{ItemFn, Meta};

use crate::args::Http;
use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::signature;
use crate::{Kind, args};

const KIND: Kind = Kind::Client;

/// Expands `#[client(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => emit::with_errors(item, error),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (metas, function) = crate::parse(KIND, args, item.clone())?;
    let client = validate(metas, function)?;
    Ok(generate(&client, item))
}

/// A validated client function.
struct Client {
    registration: Registration,
    trigger: Trigger,
}

/// What starts a client function.
enum Trigger {
    Http(Http),
    /// The schedule literal, and whether the function returns a `Result`.
    Timer(syn::LitStr, bool),
}

fn validate(metas: Vec<Meta>, function: ItemFn) -> syn::Result<Client> {
    let mut errors = Errors::default();
    let args = args::validate(KIND, metas, &mut errors);
    let name = args::function_name(KIND, args.name.as_ref(), &function.sig.ident, &mut errors);
    // Any parameters: they are axum extractors, which rustc checks through `Handler`.
    signature::check(KIND, &function.sig, &mut errors);
    errors.finish()?;
    let fallible = signature::Output::of(&function.sig).is_fallible();
    let trigger = match (args.http, args.timer) {
        (Some(http), _) => Trigger::Http(http),
        (None, Some(schedule)) => Trigger::Timer(schedule, fallible),
        (None, None) => {
            return Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                format!(
                    "missing trigger for {KIND}; expected `http(route = \"...\")` or `timer(schedule = \"...\")`"
                ),
            ));
        }
    };
    Ok(Client {
        registration: Registration::new(args.krate, name, function),
        trigger,
    })
}

fn generate(client: &Client, original: TokenStream) -> TokenStream {
    match &client.trigger {
        Trigger::Http(http) => generate_http(&client.registration, http, original),
        Trigger::Timer(schedule, fallible) => {
            generate_timer(&client.registration, schedule, *fallible, original)
        }
    }
}

/// A timer-triggered client: `(DurableClient)` or `(DurableClient, TimerInfo)`.
fn generate_timer(
    registration: &Registration,
    schedule: &syn::LitStr,
    fallible: bool,
    original: TokenStream,
) -> TokenStream {
    let k = &registration.private;
    let ident = registration.ident();
    let takes_info = registration.function.sig.inputs.len() >= 2;
    let call = if takes_info {
        quote!(#ident(__durable_client, __durable_info).await)
    } else {
        quote!(#ident(__durable_client).await)
    };
    let finish = if fallible {
        quote!(#k::timer_result(#call))
    } else {
        quote!({ #call; ::core::result::Result::Ok(()) })
    };
    let invoke = quote_spanned! {emit::located_at(ident.span())=>
        ::std::boxed::Box::pin(async move { #finish })
    };
    let descriptor = registration.descriptor(
        KIND,
        quote! {
            trigger: #k::ClientTrigger::Timer {
                schedule: #schedule,
                invoke: __durable_timer,
            },
        },
    );
    registration.wrap(
        original,
        quote! {
            #[allow(unused_variables)]
            fn __durable_timer(
                __durable_client: #k::DurableClient,
                __durable_info: #k::TimerInfo,
            ) -> #k::BoxFuture<::core::result::Result<(), ::std::string::String>> {
                #invoke
            }

            #descriptor
        },
    )
}

fn generate_http(registration: &Registration, http: &Http, original: TokenStream) -> TokenStream {
    let k = &registration.private;
    let ident = registration.ident();
    let route = &http.route;
    let methods = &http.methods;
    let auth = &http.auth;
    // Spanned at the function's name: a parameter that is not an extractor, or a future that
    // is not `Send`, is reported there by axum's `Handler` bound.
    let mount = quote_spanned! {emit::located_at(ident.span())=>
        #k::mount_http(__durable_router, #route, &[#(#methods),*], #ident)
    };
    let descriptor = registration.descriptor(
        KIND,
        quote! {
                        trigger: #k::ClientTrigger::Http {
                route: #route,
                methods: &[#(#methods),*],
                auth: #k::AuthLevel::#auth,
                mount: __durable_mount,
            },
        },
    );
    registration.wrap(
        original,
        quote! {
            fn __durable_mount(__durable_router: #k::Router) -> #k::Router {
                #mount
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
            async fn http_start(client: DurableClient, Path(name): Path<String>) -> String {
                name
            }
        );
        let expanded = expand(
            quote!(http(route = "orchestrators/{name}", methods = ["post"])),
            item.clone(),
        )
        .to_string();
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
                fn __durable_mount(
                    __durable_router: ::durable_runtime::__private::Router
                ) -> ::durable_runtime::__private::Router {
                    ::durable_runtime::__private::mount_http(
                        __durable_router,
                        "orchestrators/{name}",
                        &["POST"],
                        http_start
                    )
                }

                #[::durable_runtime::__private::linkme::distributed_slice(::durable_runtime::__private::CLIENTS)]
                #[linkme(crate = ::durable_runtime::__private::linkme)]
                static __DURABLE_DESCRIPTOR: ::durable_runtime::__private::ClientDescriptor =
                    ::durable_runtime::__private::ClientDescriptor {
                        name: "http_start",
                        location: ::durable_runtime::__private::SourceLocation {
                            file: ::core::file!(),
                            line: ::core::line!()
                        },
                                                trigger: ::durable_runtime::__private::ClientTrigger::Http {
                            route: "orchestrators/{name}",
                            methods: &["POST"],
                            auth: ::durable_runtime::__private::AuthLevel::Function,
                            mount: __durable_mount,
                        },
                    };
            };
        };
        assert_eq!(expanded, expected.to_string());
    }

    #[test]
    fn default_methods_and_explicit_name() {
        let expanded = expand(
            quote!(name = "Start", http(route = "start")),
            quote!(
                async fn start() {}
            ),
        )
        .to_string();
        assert_contains(&expanded, "methods : & [\"GET\" , \"POST\"]");
        assert_contains(&expanded, "name : \"Start\"");
    }

    #[test]
    fn requires_http() {
        assert_eq!(
            messages(
                expand,
                quote!(name = "Start"),
                quote!(
                    async fn start() {}
                )
            ),
            [
                "missing trigger for `#[client]`; expected `http(route = \"...\")` or `timer(schedule = \"...\")`"
            ]
        );
    }

    #[test]
    fn any_parameters_but_the_usual_shape() {
        assert!(
            messages(
                expand,
                quote!(http(route = "x")),
                quote!(
                    async fn f(a: A, b: B, c: C, d: D) {}
                )
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                expand,
                quote!(http(route = "x", methods = ["GET", "BREW"])),
                quote!(
                    fn f<T>() {}
                )
            ),
            [
                "unknown HTTP method `BREW` in `http(...)` of `#[client]`; expected one of: `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS`",
                "`#[client]` functions must be `async`; expected `async fn`",
                "`#[client]` functions cannot be generic; expected no type, lifetime or const parameters",
            ]
        );
    }
}
