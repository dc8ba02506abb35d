//! Calls that break replay, found in an orchestrator's body: the wall clock, sleeping,
//! random numbers and random ids give another answer when the orchestrator replays its
//! history, so each is an error pointing at the call, with the deterministic replacement.
//! A statement marked `#[allow_nondeterministic]` is not checked (the marker is removed).

use syn::visit::Visit;
use syn::visit_mut::VisitMut;

use crate::diag::Errors;

/// The marker that lets one statement make such calls (a log line's timestamp, say).
const ALLOW: &str = "allow_nondeterministic";

/// Reports every call in `body` that breaks replay, and removes the allow markers.
pub(crate) fn check(body: &mut syn::Block, errors: &mut Errors) {
    let mut finder = Finder { errors };
    finder.visit_block(body);
    Unmark.visit_block_mut(body);
}

/// `item` without the allow markers (for the expansion that reports errors), when it is
/// a function.
pub(crate) fn unmarked(item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(mut function) => {
            Unmark.visit_block_mut(&mut function.block);
            quote::quote!(#function)
        }
        Err(_) => item,
    }
}

/// What replaces a call that breaks replay, by the path's last two segments (or first).
fn replacement(path: &syn::Path) -> Option<(&'static str, &'static str)> {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let last_two = |a: &str, b: &str| {
        segments.len() >= 2
            && segments[segments.len() - 2] == a
            && segments[segments.len() - 1] == b
    };
    let clock = (
        "reads the clock, which shows another time when the orchestrator replays",
        "use `ctx.current_utc_datetime()`, the time of the turn",
    );
    if last_two("SystemTime", "now")
        || last_two("Instant", "now")
        || last_two("Utc", "now")
        || last_two("Local", "now")
    {
        return Some(clock);
    }
    if last_two("thread", "sleep") || last_two("time", "sleep") || last_two("time", "sleep_until") {
        return Some((
            "sleeps in the orchestrator, which blocks its turn and is not remembered on replay",
            "use `ctx.sleep(duration)` or `ctx.create_timer(at)`, durable timers",
        ));
    }
    if segments.first().is_some_and(|s| s == "rand") {
        return Some((
            "draws random numbers, which differ when the orchestrator replays",
            "use `ctx.random_u64()` or `ctx.random_range(..)`, which replay the same numbers",
        ));
    }
    if last_two("Uuid", "new_v4") || last_two("Uuid", "now_v7") {
        return Some((
            "makes a random id, which differs when the orchestrator replays",
            "use `ctx.new_guid()`, which replays the same id",
        ));
    }
    None
}

struct Finder<'a> {
    errors: &'a mut Errors,
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        if !is_allowed(stmt_attrs(stmt)) {
            syn::visit::visit_stmt(self, stmt);
        }
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        if let Some((problem, instead)) = replacement(&expr.path) {
            let call = expr
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            self.errors.push(syn::Error::new_spanned(
                &expr.path,
                format!(
                    "`{call}` {problem}; {instead} (or mark the statement `#[{ALLOW}]` if its result never steers the orchestration)"
                ),
            ));
        }
        syn::visit::visit_expr_path(self, expr);
    }

    // Items inside the body (helper functions, impls) are not the orchestrator's code.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Removes the allow markers, which are not attributes rustc knows.
struct Unmark;

impl VisitMut for Unmark {
    fn visit_stmt_mut(&mut self, stmt: &mut syn::Stmt) {
        if let Some(attrs) = stmt_attrs_mut(stmt) {
            attrs.retain(|attr| !attr.path().is_ident(ALLOW));
        }
        syn::visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

fn is_allowed(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident(ALLOW))
}

fn stmt_attrs(stmt: &syn::Stmt) -> &[syn::Attribute] {
    match stmt {
        syn::Stmt::Local(local) => &local.attrs,
        syn::Stmt::Expr(expr, _) => expr_attrs(expr),
        syn::Stmt::Macro(mac) => &mac.attrs,
        syn::Stmt::Item(_) => &[],
    }
}

fn stmt_attrs_mut(stmt: &mut syn::Stmt) -> Option<&mut Vec<syn::Attribute>> {
    match stmt {
        syn::Stmt::Local(local) => Some(&mut local.attrs),
        syn::Stmt::Expr(expr, _) => expr_attrs_mut(expr),
        syn::Stmt::Macro(mac) => Some(&mut mac.attrs),
        syn::Stmt::Item(_) => None,
    }
}

fn expr_attrs(expr: &syn::Expr) -> &[syn::Attribute] {
    match expr {
        syn::Expr::Call(e) => &e.attrs,
        syn::Expr::MethodCall(e) => &e.attrs,
        syn::Expr::Await(e) => &e.attrs,
        syn::Expr::Assign(e) => &e.attrs,
        syn::Expr::Macro(e) => &e.attrs,
        syn::Expr::Path(e) => &e.attrs,
        syn::Expr::Try(e) => &e.attrs,
        _ => &[],
    }
}

fn expr_attrs_mut(expr: &mut syn::Expr) -> Option<&mut Vec<syn::Attribute>> {
    match expr {
        syn::Expr::Call(e) => Some(&mut e.attrs),
        syn::Expr::MethodCall(e) => Some(&mut e.attrs),
        syn::Expr::Await(e) => Some(&mut e.attrs),
        syn::Expr::Assign(e) => Some(&mut e.attrs),
        syn::Expr::Macro(e) => Some(&mut e.attrs),
        syn::Expr::Path(e) => Some(&mut e.attrs),
        syn::Expr::Try(e) => Some(&mut e.attrs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(body: &str) -> (Vec<String>, String) {
        let mut block: syn::Block = syn::parse_str(body).expect("a block");
        let mut errors = Errors::default();
        check(&mut block, &mut errors);
        let found = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (found, quote::quote!(#block).to_string())
    }

    #[test]
    fn each_call_that_breaks_replay_is_named_with_its_replacement() {
        let (found, _) = messages(
            "{
                let a = std::time::SystemTime::now();
                let b = Instant::now();
                let c = chrono::Utc::now();
                std::thread::sleep(d);
                tokio::time::sleep(d).await;
                let e: u8 = rand::random();
                let f = uuid::Uuid::new_v4();
                let g = ctx.current_utc_datetime();
                let h = ctx.new_guid();
            }",
        );
        let starts: Vec<&str> = found
            .iter()
            .map(|m| m.split(" (or mark").next().unwrap_or_default())
            .collect();
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(starts[0].starts_with("`std::time::SystemTime::now` reads the clock"));
        assert!(starts[0].ends_with("use `ctx.current_utc_datetime()`, the time of the turn"));
        assert!(starts[3].contains("use `ctx.sleep(duration)`"));
        assert!(starts[5].contains("`rand::random`") && starts[5].contains("ctx.random_u64()"));
        assert!(starts[6].contains("ctx.new_guid()"));
    }

    #[test]
    fn a_marked_statement_is_allowed_and_the_marker_removed() {
        let (found, code) = messages(
            "{
                #[allow_nondeterministic]
                let logged_at = std::time::SystemTime::now();
                fn helper() { let _ = std::time::Instant::now(); }
            }",
        );
        assert_eq!(found, Vec::<String>::new());
        assert!(!code.contains("allow_nondeterministic"), "{code}");
        assert!(code.contains("SystemTime"), "the call stays: {code}");
    }
}
