// Functions written by a `macro_rules!` expand too: generated locals are hygienic and
// `$t:ty` types (invisible groups) are read like written ones.
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

fn main() {
    assert!(ACTIVITIES.iter().any(|a| a.name == "echo_activity"));
    assert!(ORCHESTRATORS.iter().any(|o| o.name == "echo_orchestrator"));
    assert!(CLIENTS.iter().any(|c| c.name == "echo_client"));
}
