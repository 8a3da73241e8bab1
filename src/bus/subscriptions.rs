//! The workspace channels an instance wants, and the ordered queue of (un)subscriptions for the
//! task that owns the subscriber connection. Both Redis brokers keep their subscriptions here.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::channel;
use crate::domain::ids::WorkspaceId;

pub enum Command {
    /// Answered once Redis confirmed the subscription, so that a caller reading the log after
    /// it cannot miss an event published in between.
    Subscribe(String, oneshot::Sender<()>),
    Unsubscribe(String),
}

#[derive(Clone)]
pub struct Subscriptions {
    wanted: Arc<Mutex<HashSet<String>>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Subscriptions {
    /// `always`: channels wanted from the start (a broker's own probe channel). Commands are tiny
    /// and bounded in practice by the number of workspaces; the owning task drains them at once.
    pub fn new(
        always: impl IntoIterator<Item = String>,
    ) -> (Self, mpsc::UnboundedReceiver<Command>) {
        let (commands, rx) = mpsc::unbounded_channel();
        (
            Subscriptions {
                wanted: Arc::new(Mutex::new(always.into_iter().collect())),
                commands,
            },
            rx,
        )
    }

    /// Records the channel as wanted and queues its subscription (in call order, which the hub
    /// keeps under its room lock); the future resolves when it is live, or after 2 s: if the
    /// link is down, the subscription happens on reconnect, followed by a catch-up.
    pub fn subscribe(&self, workspace_id: WorkspaceId) -> BoxFuture<'static, ()> {
        let ch = channel(workspace_id);
        self.wanted.lock().expect("wanted lock").insert(ch.clone());
        let (done, confirmed) = oneshot::channel();
        let _ = self.commands.send(Command::Subscribe(ch, done));
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), confirmed).await;
        })
    }

    pub fn unsubscribe(&self, workspace_id: WorkspaceId) {
        let ch = channel(workspace_id);
        if self.wanted.lock().expect("wanted lock").remove(&ch) {
            let _ = self.commands.send(Command::Unsubscribe(ch));
        }
    }

    /// Everything wanted now (to subscribe again after a reconnect).
    pub fn wanted(&self) -> Vec<String> {
        self.wanted
            .lock()
            .expect("wanted lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Whether an unsubscribe still applies when it runs (a newer subscribe may have come).
    pub fn is_wanted(&self, ch: &str) -> bool {
        self.wanted.lock().expect("wanted lock").contains(ch)
    }
}
