// Activities with every parameter shape and return type register under the right names.
use durable_runtime::__private::ACTIVITIES;
use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Serialize)]
struct Sum {
    total: i64,
}

/// Doc comments and other attributes are kept.
#[activity_trigger(name = "SayHello")]
#[inline]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

#[activity_trigger]
async fn join_words((first, second): (String, String)) -> String {
    format!("{first} {second}")
}

#[activity_trigger(name = "AddPoint")]
async fn add_point(Point { x, y }: Point) -> Sum {
    Sum { total: x + y }
}

#[activity_trigger]
async fn parse_number(text: String) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[activity_trigger]
async fn read_config(path: String) -> std::io::Result<String> {
    Ok(path)
}

#[activity_trigger]
async fn with_context(ctx: ActivityContext, attempt_offset: u32) -> u32 {
    ctx.attempt() + attempt_offset
}

#[activity_trigger]
async fn no_input() {}

#[activity_trigger]
async fn r#return() -> Value {
    Value::Null
}

mod nested {
    use durable_runtime::prelude::*;

    #[activity_trigger(name = "Nested-Activity_2")]
    pub(crate) async fn nested(n: u8) -> u8 {
        n
    }
}

fn main() {
    // The functions stay callable as written.
    let _ = say_hello(String::from("Tokyo"));
    let _ = nested::nested(1);

    let mut names: Vec<&str> = ACTIVITIES
        .iter()
        .filter(|a| a.location.file.ends_with("activity.rs"))
        .map(|a| a.name)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "AddPoint",
            "Nested-Activity_2",
            "SayHello",
            "join_words",
            "no_input",
            "parse_number",
            "read_config",
            "return",
            "with_context",
        ]
    );
    let descriptor = ACTIVITIES
        .iter()
        .find(|a| a.name == "SayHello")
        .expect("SayHello is registered");
    assert!(
        descriptor.location.file.ends_with("activity.rs"),
        "{}",
        descriptor.location
    );
    assert_eq!(
        descriptor.location.line, 20,
        "the line of the function's name"
    );
}
