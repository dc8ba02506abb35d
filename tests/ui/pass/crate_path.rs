// `crate = path` makes every generated path go through a re-export of the runtime.
mod reexport {
    pub use durable_runtime as runtime;
}

use durable_runtime::prelude::*;

#[activity_trigger(crate = crate::reexport::runtime)]
async fn through_reexport(n: u8) -> u8 {
    n
}

#[orchestration_trigger(crate = reexport::runtime, name = "Relative")]
async fn relative(_ctx: OrchestrationContext) {}

fn main() {
    assert!(
        durable_runtime::__private::ACTIVITIES
            .iter()
            .any(|a| a.name == "through_reexport")
    );
    assert!(
        durable_runtime::__private::ORCHESTRATORS
            .iter()
            .any(|o| o.name == "Relative")
    );
}
