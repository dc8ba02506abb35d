// Functions written by a `macro_rules!` expand too: generated locals are hygienic,
// `$t:ty` types (invisible groups) are read like written ones, and the typed handles are
// usable inside and outside the macro, whether the name is passed in or written in it.
use durable_runtime::__private::{ACTIVITIES, CLIENTS, ORCHESTRATORS};
use durable_runtime::prelude::*;

macro_rules! echo_functions {
    ($activity:ident, $orchestrator:ident, $client:ident, $t:ty) => {
        #[activity_trigger]
        async fn $activity(_ctx: ActivityContext, value: $t) -> Result<$t, String> {
            Ok(value)
        }

        #[orchestration_trigger]
        async fn $orchestrator(_ctx: OrchestrationContext, value: $t) -> $t {
            value
        }

        #[client(http(route = "echo"))]
        async fn $client() -> &'static str {
            "echo"
        }
    };
}

echo_functions!(echo_activity, echo_orchestrator, echo_client, Vec<u8>);

macro_rules! typed_call {
    ($orchestrator:ident, $activity:ident, $input:expr) => {
        #[orchestration_trigger]
        async fn $orchestrator(ctx: OrchestrationContext) -> Result<Vec<u8>, DurableError> {
            let echoed = ctx.call($activity, $input).await?;
            ctx.call(echo_orchestrator, echoed).await
        }
    };
}

typed_call!(echo_twice, echo_activity, vec![1, 2]);

macro_rules! written_name {
    () => {
        #[activity_trigger]
        async fn written_in_the_macro(n: u8) -> u8 {
            n
        }
    };
}

written_name!();

fn main() {
    assert!(ACTIVITIES.iter().any(|a| a.name == "echo_activity"));
    assert!(ORCHESTRATORS.iter().any(|o| o.name == "echo_orchestrator"));
    assert!(ORCHESTRATORS.iter().any(|o| o.name == "echo_twice"));
    assert_eq!(echo_activity.name(), "echo_activity");
    assert_eq!(written_in_the_macro.name(), "written_in_the_macro");
    assert!(CLIENTS.iter().any(|c| c.name == "echo_client"));
}
