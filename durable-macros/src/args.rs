//! Attribute arguments shared by every attribute (`name = "..."`, `crate = path`) and the
//! client trigger (`http(route = "...", methods = [...])`).

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ExprLit, Ident, Lit, LitStr, Meta, MetaList, Path, Token};

use crate::Kind;
use crate::diag::Errors;

/// The HTTP methods a client route may answer, as emitted (upper case).
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// The methods a client route answers when `methods` is not given.
const DEFAULT_HTTP_METHODS: &[&str] = &["GET", "POST"];

/// The most characters a function name may have.
const MAX_NAME_LEN: usize = 128;

/// The arguments of one attribute, after validation. Fields the user got wrong are `None`;
/// the errors are in the [`Errors`] that [`validate`] was given.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`, already checked against the naming rules.
    pub(crate) name: Option<LitStr>,
    /// `crate = path`.
    pub(crate) krate: Option<Path>,
    /// `http(...)`, for clients.
    pub(crate) http: Option<Http>,
    /// `timer(schedule = "...")`, for clients: the schedule literal.
    pub(crate) timer: Option<LitStr>,
}

/// `http(route = "...", methods = [...])` of a client.
pub(crate) struct Http {
    /// The route, as written.
    pub(crate) route: LitStr,
    /// The methods, upper case, each spanned at the literal that named it.
    pub(crate) methods: Vec<LitStr>,
    /// The authorization level's variant name (`Anonymous`, `Function`, `Admin`), spanned
    /// at the literal that named it.
    pub(crate) auth: syn::Ident,
}

/// Parses the attribute's tokens into a list of `key = value` / `key(...)` items.
pub(crate) fn parse(kind: Kind, args: TokenStream) -> syn::Result<Vec<Meta>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .map_err(|error| {
            let mut combined: Option<syn::Error> = None;
            for e in error {
                let e = syn::Error::new(
                    e.span(),
                    format!(
                        "malformed arguments of {kind}: {e}; expected {}",
                        kind.usage()
                    ),
                );
                match &mut combined {
                    Some(c) => c.combine(e),
                    None => combined = Some(e),
                }
            }
            combined.unwrap_or_else(|| {
                syn::Error::new(Span::call_site(), format!("malformed arguments of {kind}"))
            })
        })?;
    Ok(metas.into_iter().collect())
}

/// Checks every argument, recording all problems in `errors`.
pub(crate) fn validate(kind: Kind, metas: Vec<Meta>, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let key = match meta.path().get_ident() {
            Some(ident) => ident.unraw().to_string(),
            None => path_to_string(meta.path()),
        };
        if !kind.keys().contains(&key.as_str()) {
            errors.push(syn::Error::new_spanned(
                meta.path(),
                format!(
                    "unknown attribute `{key}` is specified for {kind}; expected one of: {}",
                    list(kind.keys())
                ),
            ));
            continue;
        }
        if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(
                meta.path(),
                format!(
                    "duplicate attribute `{key}` is specified for {kind}; expected it at most once"
                ),
            ));
            continue;
        }
        seen.push(key.clone());
        match key.as_str() {
            "name" => {
                let value = errors.record(name_value(kind, &meta, "name = \"...\""));
                args.name = value.and_then(|v| errors.record(name(kind, v)));
            }
            "crate" => {
                let value = errors.record(name_value(kind, &meta, "crate = path"));
                args.krate = value.and_then(|v| errors.record(krate(kind, v)));
            }
            "timer" => args.timer = errors.record(timer(kind, &meta)),
            _ => args.http = errors.record(http(kind, &meta)),
        }
    }
    let triggers = seen
        .iter()
        .filter(|k| *k == "http" || *k == "timer")
        .count();
    if kind == Kind::Client && triggers == 0 {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!(
                "missing trigger for {kind}; expected `http(route = \"...\")` or `timer(schedule = \"...\")`"
            ),
        ));
    }
    if triggers > 1 {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!("{kind} takes one trigger; expected either `http(...)` or `timer(...)`"),
        ));
    }
    args
}

/// `timer(schedule = "...")`: a cron schedule with six fields (or five, without seconds).
/// The host checks the fields in full when it starts.
fn timer(kind: Kind, meta: &Meta) -> syn::Result<LitStr> {
    let usage = "expected `timer(schedule = \"0 */5 * * * *\")`";
    let Meta::List(list) = meta else {
        return Err(syn::Error::new_spanned(
            meta,
            format!("malformed `timer` argument of {kind}; {usage}"),
        ));
    };
    let items = list
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("malformed `timer(...)` of {kind}: {e}; {usage}"),
            )
        })?;
    let mut schedule = None;
    for item in &items {
        let key = path_to_string(item.path());
        if key != "schedule" {
            return Err(syn::Error::new_spanned(
                item.path(),
                format!(
                    "unknown attribute `{key}` is specified in `timer(...)` of {kind}; expected one of: `schedule`"
                ),
            ));
        }
        let value = name_value(kind, item, "schedule = \"...\"")?;
        let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) = value
        else {
            return Err(syn::Error::new_spanned(
                value,
                format!("`schedule` in `timer(...)` of {kind} must be a string literal; {usage}"),
            ));
        };
        let fields = lit.value().split_whitespace().count();
        if fields != 5 && fields != 6 {
            return Err(syn::Error::new_spanned(
                lit,
                format!(
                    "schedule of {kind} has {fields} fields; expected 6 (second minute hour day month day-of-week) or 5"
                ),
            ));
        }
        schedule = Some(lit.clone());
    }
    schedule.ok_or_else(|| {
        syn::Error::new_spanned(
            list,
            format!("missing `schedule` in `timer(...)` of {kind}; {usage}"),
        )
    })
}

/// The registered name: the `name` argument, or the function's identifier without `r#`,
/// which must follow the same rules.
pub(crate) fn function_name(
    kind: Kind,
    explicit: Option<&LitStr>,
    ident: &Ident,
    errors: &mut Errors,
) -> LitStr {
    item_name(kind, explicit, ident, "function", errors)
}

/// The registered name of an item (`what`: "function", "type"): the `name` argument, or
/// the item's identifier without `r#`, which must follow the same rules.
pub(crate) fn item_name(
    kind: Kind,
    explicit: Option<&LitStr>,
    ident: &Ident,
    what: &str,
    errors: &mut Errors,
) -> LitStr {
    if let Some(name) = explicit {
        return name.clone();
    }
    let name = ident.unraw().to_string();
    if let Err(reason) = check_name(&name) {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "the {what} name `{name}` cannot be registered by {kind}: {reason}; rename the {what} or give a valid `name = \"...\"` ({NAME_RULE})"
            ),
        ));
    }
    LitStr::new(&name, ident.span())
}

/// The naming rule, phrased for "expected ...".
const NAME_RULE: &str =
    "an ASCII letter followed by ASCII letters, digits, `_` or `-`, at most 128 characters";

/// Checks a function name against the rules the host enforces (the Azure Functions rules).
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return Err("it must start with an ASCII letter"),
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("only ASCII letters, digits, `_` and `-` are allowed");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("it is longer than 128 characters");
    }
    Ok(())
}

/// The value of `key = value`; `usage` is how the argument is written.
fn name_value<'a>(kind: Kind, meta: &'a Meta, usage: &str) -> syn::Result<&'a Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(&nv.value),
        _ => Err(syn::Error::new_spanned(
            meta,
            format!("malformed argument of {kind}; expected `{usage}`"),
        )),
    }
}

/// `name = "..."`: a string literal that follows the naming rules.
fn name(kind: Kind, value: &Expr) -> syn::Result<LitStr> {
    let Some(lit) = string_literal(value) else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`name` of {kind} must be a string literal; expected `name = \"...\"`"),
        ));
    };
    let name = lit.value();
    check_name(&name).map_err(|reason| {
        syn::Error::new(
            lit.span(),
            format!("invalid function name `{name}` for {kind}: {reason}; expected {NAME_RULE}"),
        )
    })?;
    Ok(LitStr::new(&name, lit.span()))
}

/// `crate = path`.
fn krate(kind: Kind, value: &Expr) -> syn::Result<Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`crate` of {kind} must be a path; expected `crate = path::to::durable_runtime`"
            ),
        )),
    }
}

/// `http(route = "...", methods = [...])`.
fn http(kind: Kind, meta: &Meta) -> syn::Result<Http> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new_spanned(
            meta,
            format!("malformed `http` argument of {kind}; expected `http(route = \"...\")`"),
        ));
    };
    let items = list
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "malformed `http(...)` argument of {kind}: {e}; expected `http(route = \"...\", methods = [\"POST\"])`"
                ),
            )
        })?;
    let mut errors = Errors::default();
    let mut route: Option<LitStr> = None;
    let mut methods: Option<Vec<LitStr>> = None;
    let mut auth: Option<syn::Ident> = None;
    let mut seen = Vec::new();
    for item in &items {
        let key = path_to_string(item.path());
        if key != "route" && key != "methods" && key != "auth" {
            errors.push(syn::Error::new_spanned(
                item.path(),
                format!(
                    "unknown attribute `{key}` is specified in `http(...)` of {kind}; expected one of: `route`, `methods`, `auth`"
                ),
            ));
            continue;
        }
        if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(
                item.path(),
                format!(
                    "duplicate attribute `{key}` is specified in `http(...)` of {kind}; expected it at most once"
                ),
            ));
            continue;
        }
        seen.push(key.clone());
        if key == "route" {
            let value = errors.record(name_value(kind, item, "route = \"...\""));
            route = value.and_then(|v| errors.record(http_route(kind, v)));
        } else if key == "auth" {
            let value = errors.record(name_value(kind, item, "auth = \"function\""));
            auth = value.and_then(|v| errors.record(http_auth(kind, v)));
        } else {
            let value = errors.record(name_value(kind, item, "methods = [\"POST\", ...]"));
            methods = value.and_then(|v| errors.record(http_methods(kind, v)));
        }
    }
    if !seen.iter().any(|k| k == "route") {
        errors.push(missing_route(kind, list));
    }
    errors.finish()?;
    let route = route.ok_or_else(|| missing_route(kind, list))?;
    let methods = methods.unwrap_or_else(|| {
        DEFAULT_HTTP_METHODS
            .iter()
            .map(|m| LitStr::new(m, first_span(&list.path)))
            .collect()
    });
    let auth = auth.unwrap_or_else(|| syn::Ident::new("Function", first_span(&list.path)));
    Ok(Http {
        route,
        methods,
        auth,
    })
}

/// `auth = "anonymous" | "function" | "admin"`, as in Azure Functions' `authLevel`.
fn http_auth(kind: Kind, value: &Expr) -> syn::Result<syn::Ident> {
    let expected = "expected one of: \"anonymous\", \"function\", \"admin\"";
    let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(lit),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`auth` in `http(...)` of {kind} must be a string literal; {expected}"),
        ));
    };
    let variant = match lit.value().to_ascii_lowercase().as_str() {
        "anonymous" => "Anonymous",
        "function" => "Function",
        "admin" => "Admin",
        other => {
            return Err(syn::Error::new_spanned(
                lit,
                format!("unknown auth level `{other}` in `http(...)` of {kind}; {expected}"),
            ));
        }
    };
    Ok(syn::Ident::new(variant, lit.span()))
}

fn missing_route(kind: Kind, list: &MetaList) -> syn::Error {
    syn::Error::new_spanned(
        list,
        format!("missing `route` in `http(...)` of {kind}; expected `http(route = \"...\")`"),
    )
}

/// `route = "..."`: a non-empty string literal.
fn http_route(kind: Kind, value: &Expr) -> syn::Result<LitStr> {
    match string_literal(value) {
        Some(lit) if !lit.value().trim().is_empty() => Ok(lit.clone()),
        Some(lit) => Err(syn::Error::new(
            lit.span(),
            format!(
                "empty `route` in `http(...)` of {kind}; expected a route such as `route = \"orchestrators/{{name}}\"`"
            ),
        )),
        None => Err(syn::Error::new_spanned(
            value,
            format!(
                "`route` in `http(...)` of {kind} must be a string literal; expected `route = \"...\"`"
            ),
        )),
    }
}

/// `methods = ["GET", ...]`: a non-empty array of known methods, in any case.
fn http_methods(kind: Kind, value: &Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`methods` in `http(...)` of {kind} must be an array of string literals; expected `methods = [\"POST\", ...]`"
            ),
        ));
    };
    if elems.is_empty() {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`methods` in `http(...)` of {kind} is empty; expected at least one of: {}",
                list(HTTP_METHODS)
            ),
        ));
    }
    let mut errors = Errors::default();
    let mut methods = Vec::new();
    for elem in elems {
        let Some(lit) = string_literal(elem) else {
            errors.push(syn::Error::new_spanned(
                elem,
                format!(
                    "HTTP methods in `http(...)` of {kind} must be string literals; expected one of: {}",
                    list(HTTP_METHODS)
                ),
            ));
            continue;
        };
        let method = lit.value().to_ascii_uppercase();
        if HTTP_METHODS.contains(&method.as_str()) {
            methods.push(LitStr::new(&method, lit.span()));
        } else {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "unknown HTTP method `{}` in `http(...)` of {kind}; expected one of: {}",
                    lit.value(),
                    list(HTTP_METHODS)
                ),
            ));
        }
    }
    errors.finish()?;
    Ok(methods)
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        Expr::Group(group) => string_literal(&group.expr),
        _ => None,
    }
}

fn path_to_string(path: &Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect();
    let joined = segments.join("::");
    if path.leading_colon.is_some() {
        format!("::{joined}")
    } else {
        joined
    }
}

fn first_span(path: &Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

/// "`a`, `b`, `c`"
fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::*;

    fn run(kind: Kind, tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let args = match parse(kind, tokens) {
            Ok(metas) => validate(kind, metas, &mut errors),
            Err(e) => {
                errors.push(e);
                Args::default()
            }
        };
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    fn messages(kind: Kind, tokens: TokenStream) -> Vec<String> {
        run(kind, tokens).1
    }

    #[test]
    fn empty_arguments_are_fine_except_for_clients() {
        assert!(messages(Kind::Activity, quote!()).is_empty());
        assert!(messages(Kind::Orchestration, quote!()).is_empty());
        assert_eq!(
            messages(Kind::Client, quote!()),
            [
                "missing trigger for `#[client]`; expected `http(route = \"...\")` or `timer(schedule = \"...\")`"
            ]
        );
    }

    #[test]
    fn name_and_crate_are_read() {
        let (args, errors) = run(
            Kind::Activity,
            quote!(name = "SayHello", crate = ::my::runtime),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.name.map(|n| n.value()).as_deref(), Some("SayHello"));
        let krate = args.krate.expect("crate was given");
        assert_eq!(quote!(#krate).to_string(), ":: my :: runtime");
    }

    #[test]
    fn unknown_key_lists_accepted_keys() {
        assert_eq!(
            messages(Kind::Activity, quote!(foo = 1)),
            [
                "unknown attribute `foo` is specified for `#[activity_trigger]`; expected one of: `name`, `crate`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(foo, http(route = "x"))),
            [
                "unknown attribute `foo` is specified for `#[client]`; expected one of: `name`, `crate`, `http`, `timer`"
            ]
        );
        assert_eq!(
            messages(Kind::Orchestration, quote!(http(route = "x"))),
            [
                "unknown attribute `http` is specified for `#[orchestration_trigger]`; expected one of: `name`, `crate`"
            ]
        );
    }

    #[test]
    fn every_error_is_reported() {
        assert_eq!(
            messages(Kind::Activity, quote!(foo = 1, name = 2, bar)).len(),
            3
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert_eq!(
            messages(Kind::Activity, quote!(name = "A", name = "B")),
            [
                "duplicate attribute `name` is specified for `#[activity_trigger]`; expected it at most once"
            ]
        );
    }

    #[test]
    fn name_must_be_a_string_literal() {
        assert_eq!(
            messages(Kind::Activity, quote!(name = SayHello)),
            ["`name` of `#[activity_trigger]` must be a string literal; expected `name = \"...\"`"]
        );
        assert_eq!(
            messages(Kind::Activity, quote!(name)),
            ["malformed argument of `#[activity_trigger]`; expected `name = \"...\"`"]
        );
    }

    #[test]
    fn name_must_follow_the_rules() {
        assert_eq!(
            messages(Kind::Orchestration, quote!(name = "1st")),
            [
                "invalid function name `1st` for `#[orchestration_trigger]`: it must start with an ASCII letter; expected an ASCII letter followed by ASCII letters, digits, `_` or `-`, at most 128 characters"
            ]
        );
        assert!(messages(Kind::Activity, quote!(name = ""))[0].contains(": it is empty;"));
        assert!(
            messages(Kind::Activity, quote!(name = "a b"))[0]
                .contains(": only ASCII letters, digits, `_` and `-` are allowed;")
        );
        let long = "a".repeat(129);
        assert!(
            messages(Kind::Activity, quote!(name = #long))[0]
                .contains(": it is longer than 128 characters;")
        );
        let longest = "a".repeat(128);
        assert!(messages(Kind::Activity, quote!(name = #longest)).is_empty());
        assert!(messages(Kind::Activity, quote!(name = "Say_Hello-2")).is_empty());
    }

    #[test]
    fn crate_must_be_a_path() {
        assert_eq!(
            messages(Kind::Activity, quote!(crate = "durable_runtime")),
            [
                "`crate` of `#[activity_trigger]` must be a path; expected `crate = path::to::durable_runtime`"
            ]
        );
    }

    #[test]
    fn malformed_arguments_name_the_attribute() {
        let errors = messages(Kind::Activity, quote!(name = "a" "b"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("malformed arguments of `#[activity_trigger]`: "),
            "{errors:?}"
        );
    }

    #[test]
    fn http_defaults_to_get_and_post() {
        let (args, errors) = run(Kind::Client, quote!(http(route = "orchestrators/{name}")));
        assert!(errors.is_empty(), "{errors:?}");
        let http = args.http.expect("http was given");
        assert_eq!(http.route.value(), "orchestrators/{name}");
        let methods: Vec<String> = http.methods.iter().map(LitStr::value).collect();
        assert_eq!(methods, ["GET", "POST"]);
    }

    #[test]
    fn http_methods_are_upper_cased() {
        let (args, errors) = run(
            Kind::Client,
            quote!(http(route = "x", methods = ["post", "Delete"])),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let methods: Vec<String> = args
            .http
            .expect("http was given")
            .methods
            .iter()
            .map(LitStr::value)
            .collect();
        assert_eq!(methods, ["POST", "DELETE"]);
    }

    #[test]
    fn http_errors() {
        assert_eq!(
            messages(
                Kind::Client,
                quote!(http(route = "x", methods = ["POST", "FETCH"]))
            ),
            [
                "unknown HTTP method `FETCH` in `http(...)` of `#[client]`; expected one of: `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(methods = ["POST"]))),
            ["missing `route` in `http(...)` of `#[client]`; expected `http(route = \"...\")`"]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = "x", path = "y"))),
            [
                "unknown attribute `path` is specified in `http(...)` of `#[client]`; expected one of: `route`, `methods`, `auth`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = ""))),
            [
                "empty `route` in `http(...)` of `#[client]`; expected a route such as `route = \"orchestrators/{name}\"`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = 1))),
            [
                "`route` in `http(...)` of `#[client]` must be a string literal; expected `route = \"...\"`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = "x", methods = "POST"))),
            [
                "`methods` in `http(...)` of `#[client]` must be an array of string literals; expected `methods = [\"POST\", ...]`"
            ]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = "x", methods = []))).len(),
            1
        );
        assert_eq!(
            messages(Kind::Client, quote!(http = "x")),
            ["malformed `http` argument of `#[client]`; expected `http(route = \"...\")`"]
        );
        assert_eq!(
            messages(Kind::Client, quote!(http(route = "x"), http(route = "y"))),
            ["duplicate attribute `http` is specified for `#[client]`; expected it at most once"]
        );
    }

    #[test]
    fn default_name_comes_from_the_identifier() {
        let mut errors = Errors::default();
        let ident: Ident = syn::parse_quote!(r#say_hello);
        let name = function_name(Kind::Activity, None, &ident, &mut errors);
        assert_eq!(name.value(), "say_hello");
        assert!(errors.finish().is_ok());
    }

    #[test]
    fn default_name_follows_the_rules() {
        let mut errors = Errors::default();
        let ident: Ident = syn::parse_quote!(_private);
        function_name(Kind::Activity, None, &ident, &mut errors);
        let message = errors.finish().expect_err("invalid name").to_string();
        assert_eq!(
            message,
            "the function name `_private` cannot be registered by `#[activity_trigger]`: it must start with an ASCII letter; rename the function or give a valid `name = \"...\"` (an ASCII letter followed by ASCII letters, digits, `_` or `-`, at most 128 characters)"
        );
    }
}
