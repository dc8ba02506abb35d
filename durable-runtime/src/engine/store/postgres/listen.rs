//! Wakes this host's dispatchers when another host writes work: one connection of its own
//! `LISTEN`s on the hub's channel; every notification raises the signals it names. When the
//! connection drops, it reconnects with back-off and then raises both signals once, since
//! notifications sent meanwhile are lost (the dispatchers' polling covers that gap too).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Notification};

use super::db_error;
use crate::store::{StoreError, WorkSignals};

/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a notification asks for: `<origin> <kinds>`, kinds `o` (orchestration messages)
/// and `a` (activity work).
pub(super) fn payload(origin: &str, orchestrations: bool, activities: bool) -> String {
    let mut text = format!("{origin} ");
    if orchestrations {
        text.push('o');
    }
    if activities {
        text.push('a');
    }
    text
}

/// Says an instance finished: `<origin> f <instance id>`, so waiters on other hosts wake.
pub(super) fn finished_payload(origin: &str, instance_id: &str) -> String {
    format!("{origin} f {instance_id}")
}

/// The running listener; stops when dropped.
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A live LISTEN connection: the client (dropping it closes the connection), the task that
/// drives the connection, and the notifications it forwards (closed when the connection is
/// gone).
struct Session {
    _client: Client,
    driver: JoinHandle<()>,
    notifications: mpsc::UnboundedReceiver<Notification>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn listen(config: &Config, channel: &str) -> Result<Session, StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(db_error)?;
    let (forward, notifications) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if forward.send(notification).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the PostgreSQL LISTEN connection failed");
                    return;
                }
            }
        }
    });
    let session = Session {
        _client: client,
        driver,
        notifications,
    };
    session
        ._client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .map_err(db_error)?;
    Ok(session)
}

impl Listener {
    /// Connects and listens on `channel` before returning, so no notification sent after
    /// the store opened is missed; then keeps listening in the background.
    pub(super) async fn start(
        config: Config,
        channel: String,
        origin: String,
        signals: Arc<WorkSignals>,
    ) -> Result<Listener, StoreError> {
        let first = listen(&config, &channel).await?;
        let task = tokio::spawn(run(config, channel, origin, signals, first));
        Ok(Listener { task })
    }
}

async fn run(
    config: Config,
    channel: String,
    origin: String,
    signals: Arc<WorkSignals>,
    mut session: Session,
) {
    loop {
        while let Some(notification) = session.notifications.recv().await {
            let Some((from, kinds)) = notification.payload().split_once(' ') else {
                continue;
            };
            // This store raised its own signals already.
            if from == origin {
                continue;
            }
            if let Some(instance_id) = kinds.strip_prefix("f ") {
                signals.finished.finished(instance_id);
                continue;
            }
            if kinds.contains('o') {
                signals.orchestrations.notify_one();
            }
            if kinds.contains('a') {
                signals.activities.notify_one();
            }
        }
        drop(session);
        let mut backoff = Duration::from_millis(100);
        session = loop {
            tokio::time::sleep(backoff).await;
            match listen(&config, &channel).await {
                Ok(session) => break session,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "cannot LISTEN on PostgreSQL; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        tracing::info!("listening on PostgreSQL again");
        signals.orchestrations.notify_one();
        signals.activities.notify_one();
        signals.finished.any_may_have_finished();
    }
}
