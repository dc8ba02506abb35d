//! What an activity function may know about its invocation.

/// The context an activity function may take as its first of two parameters.
#[derive(Debug, Clone)]
pub struct ActivityContext {
    pub(crate) instance_id: String,
    pub(crate) name: String,
    pub(crate) attempt: u32,
}

impl ActivityContext {
    /// The id of the orchestration instance that called the activity.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The activity's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times this call has been handed to a worker, counting this one. More than
    /// one means an earlier attempt was cut short (a crash), since activities run at least
    /// once.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
