//! One instance: publishing is handing the message to this instance's hub.

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use super::{Broker, BusMessage, Sink};
use crate::domain::ids::WorkspaceId;

pub struct LocalBroker {
    sink: Sink,
}

impl LocalBroker {
    pub fn new(sink: Sink) -> Self {
        LocalBroker { sink }
    }
}

#[async_trait]
impl Broker for LocalBroker {
    async fn publish(&self, message: BusMessage) -> anyhow::Result<()> {
        (self.sink)(message);
        Ok(())
    }

    fn subscribe(&self, _workspace_id: WorkspaceId) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }

    fn unsubscribe(&self, _workspace_id: WorkspaceId) {}

    async fn healthy(&self) -> bool {
        true
    }
}
