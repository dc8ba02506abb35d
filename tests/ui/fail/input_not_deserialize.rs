use durable_runtime::prelude::*;

struct Point {
    x: i64,
    y: i64,
}

#[activity_trigger]
async fn add(Point { x, y }: Point) -> i64 {
    x + y
}

fn main() {}
