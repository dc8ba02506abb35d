use durable_runtime::prelude::*;

struct Sum(i64);

#[activity_trigger]
async fn add((a, b): (i64, i64)) -> Result<Sum, String> {
    Ok(Sum(a + b))
}

fn main() {}
