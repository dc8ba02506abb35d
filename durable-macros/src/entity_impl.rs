//! `#[entity_trigger]` on an inherent `impl` block: a typed entity. The type is the state;
//! its `pub` methods taking `&self` or `&mut self` (and at most one input) are the
//! operations. The expansion is the fn form's: an invoker that builds an
//! `EntityContext<Self>` and dispatches on the operation's name (ignoring ASCII case), plus
//! two proxy types for orchestrations and the `TypedEntity` impl that names them.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Meta, Type, Visibility};

use crate::diag::Errors;
use crate::emit::{self, Registration};
use crate::signature::{self, Output};
use crate::{Kind, args};

const KIND: Kind = Kind::Entity;

/// Method names the generated proxies use themselves.
const RESERVED: &[&str] = &["signal", "entity_id"];

/// The operation every typed entity has unless its `impl` defines one.
const DELETE: &str = "delete";

/// Whether `#[entity_trigger]` is applied to an `impl` block (expanded here) rather than a
/// function.
pub(crate) fn is_impl(item: &TokenStream) -> bool {
    matches!(
        syn::parse2::<syn::Item>(item.clone()),
        Ok(syn::Item::Impl(_))
    )
}

/// Expands `#[entity_trigger(args)] impl T { .. }`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => emit::with_errors(item, error),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let metas = errors.record(args::parse(KIND, args));
    let block = errors.record(syn::parse2::<ItemImpl>(item.clone()));
    errors.finish()?;
    let (Some(metas), Some(block)) = (metas, block) else {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("{KIND} could not parse its input"),
        ));
    };
    let entity = validate(metas, &block)?;
    Ok(generate(&entity, item))
}

/// A validated `impl` block.
struct Entity {
    registration: Registration,
    /// The type the block implements, as written.
    ty: Type,
    operations: Vec<Operation>,
    /// Whether `delete` is added (the block defines no operation of that name).
    implicit_delete: bool,
}

/// One operation: a `pub` method taking `&self` or `&mut self`.
struct Operation {
    /// The method, as written (maybe `r#type`).
    method: Ident,
    /// The operation's name: the method's without `r#`.
    name: String,
    mutable: bool,
    is_async: bool,
    /// The input type, with `Self` replaced by the type; `None` without an input.
    input: Option<Type>,
    /// The success type, with `Self` replaced; `None` for `()`.
    output: Option<Type>,
    fallible: bool,
    /// Where the return type is (the method's name without one), for errors about it.
    returns: Span,
    vis: Visibility,
    /// The method's `#[doc]`s and `#[deprecated]`, repeated on the proxies' methods.
    docs: Vec<Attribute>,
    /// The method's `#[cfg]`s, repeated on its dispatch arm and proxy methods.
    cfgs: Vec<Attribute>,
}

fn validate(metas: Vec<Meta>, block: &ItemImpl) -> syn::Result<Entity> {
    let mut errors = Errors::default();
    let args = args::validate(KIND, metas, &mut errors);
    if let Some((_, path, for_token)) = &block.trait_ {
        errors.push(syn::Error::new_spanned(
            quote!(#path #for_token),
            format!(
                "{KIND} cannot be applied to a trait impl; expected an inherent `impl Type {{ .. }}` whose methods are the operations"
            ),
        ));
    }
    if let Some(unsafety) = &block.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            format!("{KIND} cannot be applied to an `unsafe impl`; expected `impl Type {{ .. }}`"),
        ));
    }
    if !block.generics.params.is_empty() || block.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &block.generics,
            format!(
                "{KIND} cannot be applied to a generic `impl`; expected a concrete type (each entity name has one state type)"
            ),
        ));
    }
    let ident = type_ident(&block.self_ty);
    if ident.is_none() && args.name.is_none() {
        errors.push(syn::Error::new_spanned(
            &block.self_ty,
            format!(
                "{KIND} cannot name an entity after this type; expected a named type (`impl Account`) or `name = \"...\"`"
            ),
        ));
    }
    let mut operations: Vec<Operation> = Vec::new();
    let mut candidates = 0;
    for item in &block.items {
        let ImplItem::Fn(method) = item else { continue };
        if !is_operation(method) {
            continue;
        }
        candidates += 1;
        let Some(operation) = operation(method, &block.self_ty, &mut errors) else {
            continue;
        };
        if let Some(first) = operations
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&operation.name))
        {
            errors.push(syn::Error::new(
                operation.method.span(),
                format!(
                    "operations `{}` and `{}` of {KIND} differ only in case; operation names ignore case, rename one",
                    first.name, operation.name
                ),
            ));
            continue;
        }
        operations.push(operation);
    }
    // A trait impl is already reported; its methods are the trait's, never operations.
    if candidates == 0 && block.trait_.is_none() {
        errors.push(syn::Error::new_spanned(
            &block.self_ty,
            format!(
                "{KIND} found no operations in this `impl`; expected `pub` methods taking `&self` or `&mut self` (private methods are helpers)"
            ),
        ));
    }
    let name_ident = ident.unwrap_or_else(|| Ident::new("entity", Span::call_site()));
    let name = args::item_name(KIND, args.name.as_ref(), &name_ident, "type", &mut errors);
    errors.finish()?;
    let implicit_delete = !operations
        .iter()
        .any(|o| o.name.eq_ignore_ascii_case(DELETE));
    let cfgs = block
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned();
    Ok(Entity {
        registration: Registration::for_item(args.krate, name, name_ident, cfgs.collect()),
        ty: (*block.self_ty).clone(),
        operations,
        implicit_delete,
    })
}

/// Operations are the methods with a receiver that are visible outside the type: private
/// methods and `pub(self)` ones are helpers, associated functions (no `self`) are left
/// alone.
fn is_operation(method: &ImplItemFn) -> bool {
    let private = match &method.vis {
        Visibility::Inherited => true,
        Visibility::Restricted(restricted) => restricted.path.is_ident("self"),
        Visibility::Public(_) => false,
    };
    !private && method.sig.receiver().is_some()
}

/// Checks an operation's shape, recording every problem; `None` when it has one.
fn operation(method: &ImplItemFn, self_ty: &Type, errors: &mut Errors) -> Option<Operation> {
    let sig = &method.sig;
    let mut ok = true;
    let mut fail = |error: syn::Error| {
        errors.push(error);
        ok = false;
    };
    let name = sig.ident.unraw().to_string();
    if RESERVED.contains(&name.as_str()) {
        fail(syn::Error::new(
            sig.ident.span(),
            format!(
                "`{name}` cannot be an operation of {KIND}: the entity's proxies use `{name}()` themselves; rename the method"
            ),
        ));
    }
    let mutable = sig
        .receiver()
        .and_then(|receiver| receiver_mutability(receiver, self_ty));
    if mutable.is_none() {
        let receiver = sig.receiver().map(ToTokens::to_token_stream);
        fail(syn::Error::new_spanned(
            receiver.unwrap_or_else(|| sig.ident.to_token_stream()),
            format!(
                "{KIND} operations take `&self` or `&mut self`; the state is borrowed for each operation, not moved (make the method private to keep it as a helper)"
            ),
        ));
    }
    if let Some(constness) = &sig.constness {
        fail(syn::Error::new_spanned(
            constness,
            format!("{KIND} operations cannot be `const`; expected `fn` or `async fn`"),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        fail(syn::Error::new_spanned(
            unsafety,
            format!("{KIND} operations cannot be `unsafe`; expected a safe `fn` or `async fn`"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "{KIND} operations cannot be generic; expected concrete input and output types"
            ),
        ));
    }
    let mut inputs = sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(typed) => Some(typed),
        FnArg::Receiver(_) => None,
    });
    let input = inputs.next();
    let extra: Vec<_> = inputs.collect();
    if let (Some(first), Some(last)) = (extra.first(), extra.last()) {
        // Both ends, so the error underlines every extra parameter.
        fail(syn::Error::new_spanned(
            quote!(#first #last),
            format!(
                "{KIND} operations take at most one input after `self`; pass several values as one tuple `(a, b): (A, B)` or a struct"
            ),
        ));
    }
    if let Some(input) = input
        && !signature::nameable(&input.ty)
    {
        fail(syn::Error::new_spanned(
            &input.ty,
            format!(
                "{KIND} operations cannot take `impl Trait` or `_` inputs; expected a concrete type that implements `Deserialize`"
            ),
        ));
    }
    let returns = match &sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => sig.ident.span(),
    };
    let (output, fallible) = match Output::of(sig) {
        Output::Unit => (None, false),
        Output::Value(ty) => (Some(ty), false),
        Output::Fallible(Some(ty)) => (Some(ty), true),
        Output::Fallible(None) => {
            fail(syn::Error::new(
                returns,
                format!(
                    "{KIND} cannot read the success type of this `Result`; expected `Result<T, E>` written out"
                ),
            ));
            (None, true)
        }
    };
    if let Some(output) = &output {
        if !signature::nameable(output) {
            fail(syn::Error::new_spanned(
                output,
                format!(
                    "{KIND} operations cannot return `impl Trait` or `_`; expected a concrete type that implements `Serialize`"
                ),
            ));
        } else if matches!(output, Type::Reference(_)) {
            fail(syn::Error::new_spanned(
                output,
                format!(
                    "{KIND} operations return owned values, sent to the caller as JSON; expected a type without a borrow, e.g. `i64` or `String`"
                ),
            ));
        }
    }
    if !ok {
        return None;
    }
    let attrs = |keep: &dyn Fn(&Attribute) -> bool| -> Vec<Attribute> {
        method.attrs.iter().filter(|a| keep(a)).cloned().collect()
    };
    Some(Operation {
        method: sig.ident.clone(),
        name,
        mutable: mutable.unwrap_or(false),
        is_async: sig.asyncness.is_some(),
        input: input.map(|input| replace_self(&input.ty, self_ty)),
        output: output.map(|output| replace_self(&output, self_ty)),
        fallible,
        returns,
        vis: method.vis.clone(),
        docs: attrs(&|a| a.path().is_ident("doc") || a.path().is_ident("deprecated")),
        cfgs: attrs(&|a| a.path().is_ident("cfg")),
    })
}

/// `Some(false)` for `&self`, `Some(true)` for `&mut self` (also written `self: &Self`,
/// `self: &mut Account`), `None` for any other receiver.
fn receiver_mutability(receiver: &syn::Receiver, self_ty: &Type) -> Option<bool> {
    let Type::Reference(reference) = strip(&receiver.ty) else {
        return None;
    };
    let elem = strip(&reference.elem);
    let is_self = match elem {
        Type::Path(path) => path.qself.is_none() && path.path.is_ident("Self"),
        _ => false,
    } || elem.to_token_stream().to_string() == self_ty.to_token_stream().to_string();
    is_self.then_some(reference.mutability.is_some())
}

/// The identifier the entity is named after: the last segment of the type's path.
fn type_ident(ty: &Type) -> Option<Ident> {
    match strip(ty) {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.clone())
        }
        _ => None,
    }
}

/// Looks through `(T)` and the invisible groups of `macro_rules!` fragments.
fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip(&group.elem),
        Type::Paren(paren) => strip(&paren.elem),
        other => other,
    }
}

/// `ty` with every `Self` replaced by `self_ty` (spanned at that `Self`): the proxies are
/// outside the `impl`, where `Self` is the proxy.
fn replace_self(ty: &Type, self_ty: &Type) -> Type {
    fn walk(tokens: TokenStream, self_ty: &Type) -> TokenStream {
        tokens
            .into_iter()
            .flat_map(|token| -> TokenStream {
                match token {
                    TokenTree::Ident(ident) if ident == "Self" => {
                        respan(self_ty.to_token_stream(), ident.span())
                    }
                    TokenTree::Group(group) => {
                        let mut replaced =
                            Group::new(group.delimiter(), walk(group.stream(), self_ty));
                        replaced.set_span(group.span());
                        TokenTree::Group(replaced).into()
                    }
                    other => other.into(),
                }
            })
            .collect()
    }
    syn::parse2(walk(ty.to_token_stream(), self_ty)).unwrap_or_else(|_| ty.clone())
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut group = Group::new(group.delimiter(), respan(group.stream(), span));
                group.set_span(span);
                token = TokenTree::Group(group);
            }
            token.set_span(span);
            token
        })
        .collect()
}

fn generate(entity: &Entity, original: TokenStream) -> TokenStream {
    let registration = &entity.registration;
    let k = &registration.private;
    let krate = &registration.krate;
    let ty = &entity.ty;
    let context = emit::context_argument(ty);

    let arms = entity
        .operations
        .iter()
        .map(|operation| dispatch_arm(entity, operation));
    let delete_arm = entity.implicit_delete.then(|| {
        quote! { #DELETE => #k::delete_operation(&mut #context), }
    });
    let mut known: Vec<&str> = entity.operations.iter().map(|o| o.name.as_str()).collect();
    if entity.implicit_delete {
        known.push(DELETE);
    }
    // Spanned at the type: a type that cannot be the state is reported there.
    let future = quote_spanned! {emit::located_at(ty.span())=>
        async move {
            #[allow(unused_mut)]
            let mut #context: #k::EntityContext<#ty> =
                match <#k::EntityContext<#ty>>::from_operation(__durable_operation) {
                    ::core::result::Result::Ok(__durable_ready) => __durable_ready,
                    ::core::result::Result::Err(__durable_failure) => {
                        return ::core::result::Result::Err(__durable_failure);
                    }
                };
            let __durable_name = #context.operation_name().to_ascii_lowercase();
            match __durable_name.as_str() {
                #(#arms)*
                #delete_arm
                _ => ::core::result::Result::Err(#k::unknown_operation(&#context, &[#(#known),*])),
            }
        }
    };
    let boxed = emit::boxed(&registration.function, future);
    let descriptor = registration.descriptor(KIND, quote!(invoke: __durable_invoke,));

    let mut checks: Vec<(&str, &Type)> = vec![("assert_entity_state", ty)];
    for operation in &entity.operations {
        if let Some(input) = &operation.input {
            checks.push(("assert_input", input));
        }
        if let Some(output) = &operation.output {
            checks.push(("assert_output", output));
        }
    }
    let assertions = emit::assertions(k, &checks);
    let proxies = proxies(entity);
    let name = &registration.name;

    registration.wrap(
        original,
        quote! {
            fn __durable_invoke(
                __durable_operation: #k::EntityOperation,
            ) -> #k::BoxFuture<#k::InvocationResult> {
                #boxed
            }

            #descriptor

            #assertions

            #proxies

            impl #krate::TypedEntity for #ty {
                const NAME: &'static str = #name;
                type Proxy = __DurableProxy;
                type Signals = __DurableSignals;

                fn proxy(target: #k::EntityTarget) -> __DurableProxy {
                    __DurableProxy { __durable_target: target }
                }

                fn invoke(
                    operation: #k::EntityOperation,
                ) -> #k::BoxFuture<#k::InvocationResult> {
                    __durable_invoke(operation)
                }
            }
        },
    )
}

/// `"name" => { decode the input; call the method; encode its output }`.
fn dispatch_arm(entity: &Entity, operation: &Operation) -> TokenStream {
    let k = &entity.registration.private;
    let ty = &entity.ty;
    let context = emit::context_argument(ty);
    let method = &operation.method;
    let cfgs = &operation.cfgs;
    let name = operation.name.to_ascii_lowercase();
    // `&self` operations read the state without creating it.
    let at = emit::located_at(ty.span());
    let state = if operation.mutable {
        quote_spanned!(at=> #context.state_mut())
    } else {
        quote_spanned!(at=> #context.state())
    };
    let (decode, argument) = match &operation.input {
        Some(input) => (
            quote! {
                let __durable_input: #input = match #k::decode_operation_input(&#context) {
                    ::core::result::Result::Ok(__durable_input) => __durable_input,
                    ::core::result::Result::Err(__durable_failure) => {
                        return ::core::result::Result::Err(__durable_failure);
                    }
                };
            },
            quote!(, __durable_input),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    let call = quote!(<#ty>::#method(#state #argument));
    let call = if operation.is_async {
        quote!(#call.await)
    } else {
        call
    };
    // Spanned at the return type: an output that cannot be encoded is reported there.
    let located = emit::located_at(operation.returns);
    let encode = if operation.fallible {
        quote_spanned!(located=> #k::encode_operation_result(&mut #context, __durable_output))
    } else {
        quote_spanned!(located=> #k::encode_operation_output(&mut #context, __durable_output))
    };
    quote! {
        #(#cfgs)*
        #name => {
            #decode
            let __durable_output = #call;
            #encode
        }
    }
}

/// `__DurableProxy` (two-way calls) and `__DurableSignals` (one-way), each with one method
/// per operation, named and documented as the operation's method.
fn proxies(entity: &Entity) -> TokenStream {
    let k = &entity.registration.private;
    let krate = &entity.registration.krate;
    let name = entity.registration.name.value();
    let unit: Type = syn::parse_quote!(());
    let mut calls = Vec::new();
    let mut signals = Vec::new();
    for operation in &entity.operations {
        let Operation {
            method,
            name,
            vis,
            docs,
            cfgs,
            ..
        } = operation;
        let output = operation.output.as_ref().unwrap_or(&unit);
        let (param, input) = match &operation.input {
            Some(ty) => (quote!(, input: #ty), quote!(input)),
            None => (TokenStream::new(), quote!(())),
        };
        // Spanned at the return type: an output that cannot be decoded is reported there.
        let call = quote_spanned! {emit::located_at(operation.returns)=>
            self.__durable_target.call(#name, #input)
        };
        calls.push(quote! {
            #(#docs)*
            #(#cfgs)*
            #[track_caller]
            #vis fn #method(&self #param) -> #krate::DurableFuture<#output> {
                #call
            }
        });
        signals.push(quote! {
            #(#docs)*
            #(#cfgs)*
            #[track_caller]
            #vis fn #method(&self #param) {
                self.__durable_target.signal(#name, #input)
            }
        });
    }
    if entity.implicit_delete {
        calls.push(quote! {
            /// Deletes the entity's state (the implicit `delete` operation).
            #[track_caller]
            pub fn delete(&self) -> #krate::DurableFuture<()> {
                self.__durable_target.call(#DELETE, ())
            }
        });
        signals.push(quote! {
            /// Deletes the entity's state (the implicit `delete` operation).
            #[track_caller]
            pub fn delete(&self) {
                self.__durable_target.signal(#DELETE, ())
            }
        });
    }
    let proxy_doc = format!("Two-way calls to a `{name}` entity: each method returns its result.");
    let signals_doc = format!("One-way signals to a `{name}` entity.");
    quote! {
        #[doc = #proxy_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        pub struct __DurableProxy {
            __durable_target: #k::EntityTarget,
        }

        impl __DurableProxy {
            /// The entity the calls go to.
            pub fn entity_id(&self) -> &#krate::EntityId {
                self.__durable_target.id()
            }

            /// The same entity's operations as one-way signals.
            pub fn signal(&self) -> __DurableSignals {
                __DurableSignals {
                    __durable_target: ::core::clone::Clone::clone(&self.__durable_target),
                }
            }

            #(#calls)*
        }

        #[doc = #signals_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        pub struct __DurableSignals {
            __durable_target: #k::EntityTarget,
        }

        impl __DurableSignals {
            /// The entity the signals go to.
            pub fn entity_id(&self) -> &#krate::EntityId {
                self.__durable_target.id()
            }

            #(#signals)*
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::tests::{assert_contains, messages};

    fn account() -> TokenStream {
        quote!(
            impl Account {
                pub fn deposit(&mut self, amount: i64) {
                    self.balance += amount;
                }
                pub fn withdraw(&mut self, amount: i64) -> Result<(), String> {
                    Ok(())
                }
                pub async fn balance(&self) -> i64 {
                    self.balance
                }
                pub fn new() -> Self {
                    Account { balance: 0 }
                }
                fn helper(&self, a: u8, b: u8) {}
            }
        )
    }

    #[test]
    fn is_impl_tells_blocks_from_functions() {
        assert!(is_impl(&account()));
        assert!(!is_impl(&quote!(
            fn counter(ctx: EntityContext<i64>) {}
        )));
        assert!(is_impl(&quote!(
            impl Display for Account {}
        )));
    }

    #[test]
    fn expands_to_the_block_a_dispatch_and_proxies() {
        let expanded = expand(quote!(), account()).to_string();
        assert!(
            expanded.starts_with(&account().to_string()),
            "the block is kept as written: {expanded}"
        );
        assert_contains(&expanded, "name : \"Account\"");
        assert_contains(
            &expanded,
            &quote!(let __durable_name = __durable_ctx.operation_name().to_ascii_lowercase();)
                .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                "deposit" => {
                    let __durable_input: i64 = match ::durable_runtime::__private::decode_operation_input(&__durable_ctx) {
                        ::core::result::Result::Ok(__durable_input) => __durable_input,
                        ::core::result::Result::Err(__durable_failure) => {
                            return ::core::result::Result::Err(__durable_failure);
                        }
                    };
                    let __durable_output = <Account>::deposit(__durable_ctx.state_mut(), __durable_input);
                    ::durable_runtime::__private::encode_operation_output(&mut __durable_ctx, __durable_output)
                }
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                let __durable_output = <Account>::withdraw(__durable_ctx.state_mut(), __durable_input);
                ::durable_runtime::__private::encode_operation_result(&mut __durable_ctx, __durable_output)
            )
            .to_string(),
        );
        // `&self` reads the state without creating it; async methods are awaited.
        assert_contains(
            &expanded,
            &quote!(let __durable_output = <Account>::balance(__durable_ctx.state()).await;)
                .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                "delete" => ::durable_runtime::__private::delete_operation(&mut __durable_ctx),
                _ => ::core::result::Result::Err(::durable_runtime::__private::unknown_operation(
                    &__durable_ctx,
                    &["deposit", "withdraw", "balance", "delete"]
                )),
            )
            .to_string(),
        );
        assert!(!expanded.contains("\"new\""), "{expanded}");
        assert!(!expanded.contains("\"helper\""), "{expanded}");
        assert_contains(
            &expanded,
            &quote!(
                #[track_caller]
                pub fn deposit(&self, input: i64) -> ::durable_runtime::DurableFuture<()> {
                    self.__durable_target.call("deposit", input)
                }
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                #[track_caller]
                pub fn balance(&self) -> ::durable_runtime::DurableFuture<i64> {
                    self.__durable_target.call("balance", ())
                }
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                #[track_caller]
                pub fn withdraw(&self, input: i64) {
                    self.__durable_target.signal("withdraw", input)
                }
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            &quote!(
                impl ::durable_runtime::TypedEntity for Account {
                    const NAME: &'static str = "Account";
                    type Proxy = __DurableProxy;
                    type Signals = __DurableSignals;
                }
            )
            .to_string()
            .replace(" }", ""),
        );
        assert_contains(
            &expanded,
            &quote!(#[::durable_runtime::__private::linkme::distributed_slice(::durable_runtime::__private::ENTITIES)])
                .to_string(),
        );
    }

    #[test]
    fn a_name_and_crate_path_are_used_and_an_own_delete_replaces_the_implicit_one() {
        let expanded = expand(
            quote!(name = "Wallet", crate = my::durable),
            quote!(
                impl Account {
                    /// Empties the account.
                    pub(crate) fn delete(&mut self) -> Self {
                        std::mem::take(self)
                    }
                }
            ),
        )
        .to_string();
        assert_contains(&expanded, "name : \"Wallet\"");
        assert_contains(&expanded, "& [\"delete\"]");
        assert!(!expanded.contains("delete_operation"), "{expanded}");
        // `Self` outside the block is the entity's type; docs and visibility carry over.
        assert_contains(
            &expanded,
            &quote!(
                #[doc = r" Empties the account."]
                #[track_caller]
                pub(crate) fn delete(&self) -> my::durable::DurableFuture<Account> {
                    self.__durable_target.call("delete", ())
                }
            )
            .to_string(),
        );
        assert_contains(
            &expanded,
            "my :: durable :: __private :: EntityContext < Account >",
        );
    }

    #[test]
    fn receivers_written_out_and_raw_names_are_operations() {
        let expanded = expand(
            quote!(),
            quote!(
                impl Account {
                    pub fn r#type(self: &Self) -> String {
                        String::new()
                    }
                    pub fn set(self: &mut Account, value: Account) {}
                }
            ),
        )
        .to_string();
        assert_contains(
            &expanded,
            &quote!(<Account>::r#type(__durable_ctx.state())).to_string(),
        );
        assert_contains(&expanded, "\"type\" =>");
        assert_contains(
            &expanded,
            &quote!(<Account>::set(__durable_ctx.state_mut(), __durable_input)).to_string(),
        );
    }

    #[test]
    fn shapes_that_cannot_be_operations_are_reported_together() {
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    impl Account {
                        pub fn consume(self) {}
                        pub fn transfer(&mut self, to: String, amount: i64) {}
                        pub fn generic<T>(&self, t: T) {}
                        pub fn borrowed(&self) -> &i64 {
                            &self.balance
                        }
                        pub fn opaque(&self) -> impl Serialize {
                            1
                        }
                        pub fn signal(&self) {}
                        pub fn Get(&self) {}
                        pub fn get(&self) {}
                    }
                )
            ),
            [
                "`#[entity_trigger]` operations take `&self` or `&mut self`; the state is borrowed for each operation, not moved (make the method private to keep it as a helper)",
                "`#[entity_trigger]` operations take at most one input after `self`; pass several values as one tuple `(a, b): (A, B)` or a struct",
                "`#[entity_trigger]` operations cannot be generic; expected concrete input and output types",
                "`#[entity_trigger]` operations return owned values, sent to the caller as JSON; expected a type without a borrow, e.g. `i64` or `String`",
                "`#[entity_trigger]` operations cannot return `impl Trait` or `_`; expected a concrete type that implements `Serialize`",
                "`signal` cannot be an operation of `#[entity_trigger]`: the entity's proxies use `signal()` themselves; rename the method",
                "operations `Get` and `get` of `#[entity_trigger]` differ only in case; operation names ignore case, rename one",
            ]
        );
    }

    #[test]
    fn the_block_itself_is_checked() {
        assert_eq!(
            messages(
                expand,
                quote!(nmae = "x"),
                quote!(
                    impl<T> Display for Wrapper<T> {
                        fn fmt(&self) {}
                    }
                )
            ),
            [
                "unknown attribute `nmae` is specified for `#[entity_trigger]`; expected one of: `name`, `crate`",
                "`#[entity_trigger]` cannot be applied to a trait impl; expected an inherent `impl Type { .. }` whose methods are the operations",
                "`#[entity_trigger]` cannot be applied to a generic `impl`; expected a concrete type (each entity name has one state type)",
            ]
        );
        assert_eq!(
            messages(
                expand,
                quote!(),
                quote!(
                    impl _Account {
                        pub fn get(&self) {}
                    }
                )
            ),
            [
                "the type name `_Account` cannot be registered by `#[entity_trigger]`: it must start with an ASCII letter; rename the type or give a valid `name = \"...\"` (an ASCII letter followed by ASCII letters, digits, `_` or `-`, at most 128 characters)"
            ]
        );
    }

    #[test]
    fn replaces_self_in_nested_types() {
        let ty: Type = syn::parse_quote!(Vec<(Self, Option<Self>)>);
        let account: Type = syn::parse_quote!(bank::Account);
        assert_eq!(
            replace_self(&ty, &account).to_token_stream().to_string(),
            quote!(Vec<(bank::Account, Option<bank::Account>)>).to_string()
        );
    }
}
