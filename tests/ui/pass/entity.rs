// Entity functions, async or not, returning `()` or a `Result`, register under their names.
use durable_runtime::__private::ENTITIES;
use durable_runtime::prelude::*;

#[entity_trigger(name = "Counter")]
async fn counter(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
    match ctx.operation_name() {
        "add" => *ctx.state_mut() += ctx.get_input::<i64>()?,
        "get" => ctx.return_value(*ctx.state()),
        _ => {}
    }
    Ok(())
}

#[entity_trigger]
fn flag(mut ctx: EntityContext<bool>) {
    ctx.set_state(true);
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Account {
    balance: u64,
}

#[entity_trigger(name = "Account")]
async fn account(mut ctx: EntityContext<Account>) -> Result<(), std::io::Error> {
    ctx.state_mut().balance += 1;
    Ok(())
}

fn main() {
    let mut names: Vec<&str> = ENTITIES
        .iter()
        .filter(|e| e.location.file.ends_with("entity.rs"))
        .map(|e| e.name)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Account", "Counter", "flag"]);
}
