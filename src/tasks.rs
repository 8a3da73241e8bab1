//! Background work every instance runs: due follow-ups and snoozes, presence heartbeats, pruning
//! of the event log and the audit log.
//! Each is safe to run on several instances at once.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util_lite::Stop;

use crate::AppState;

const FOLLOW_UPS_EVERY: Duration = Duration::from_secs(2);
/// How late a response target fires at most, and how soon a teammate whose away ends by its
/// date gets the waiting cases.
const ROUTING_EVERY: Duration = Duration::from_secs(2);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Background {
    stop: Stop,
    tasks: JoinSet<()>,
}

impl Background {
    pub async fn stop(mut self) {
        self.stop.trigger();
        while self.tasks.join_next().await.is_some() {}
    }
}

pub fn spawn(state: AppState) -> Background {
    let stop = Stop::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(every(
        stop.clone(),
        FOLLOW_UPS_EVERY,
        state.clone(),
        |state| async move {
            let now = chrono::Utc::now();
            if let Err(e) = crate::service::cases::fire_due_follow_ups(&state, now).await {
                tracing::warn!(error = %e, "follow-up check failed");
            }
            if let Err(e) = crate::service::snooze::wake_due(&state, now).await {
                tracing::warn!(error = %e, "waking snoozed cases failed");
            }
        },
    ));
    tasks.spawn(every(
        stop.clone(),
        ROUTING_EVERY,
        state.clone(),
        |state| async move {
            if let Err(e) = crate::service::routing::fire_breaches(&state, chrono::Utc::now()).await
            {
                tracing::warn!(error = %e, "response-target check failed");
            }
            if let Err(e) = crate::service::routing::drain_waiting(&state).await {
                tracing::warn!(error = %e, "handing out waiting cases failed");
            }
        },
    ));
    tasks.spawn(every(
        stop.clone(),
        crate::realtime::presence::HEARTBEAT_EVERY,
        state.clone(),
        |state| async move {
            for (workspace_id, teammate_id) in state.hub.presence.heartbeat().await {
                state.hub.announce(workspace_id, teammate_id).await;
            }
            if let Err(e) = crate::service::routing::still_online(&state).await {
                tracing::warn!(error = %e, "renewing who is online failed");
            }
        },
    ));
    tasks.spawn(every(
        stop.clone(),
        crate::service::jobs::EVERY,
        state.clone(),
        |state| async move {
            // Drain what is due before waiting for the next tick.
            while crate::service::jobs::tick(&state).await > 0 {}
        },
    ));
    tasks.spawn(every(
        stop.clone(),
        crate::service::webhook_delivery::EVERY,
        state.clone(),
        |state| async move { crate::service::webhook_delivery::tick(&state).await },
    ));
    tasks.spawn(every(
        stop.clone(),
        PRUNE_EVERY,
        state,
        |state| async move {
            let Ok(retention) = chrono::Duration::from_std(state.config.event_retention) else {
                return;
            };
            match state
                .store
                .prune_events(chrono::Utc::now() - retention)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned old events"),
                Err(e) => tracing::warn!(error = %e, "pruning events failed"),
            }
            match crate::service::audit::prune(&state, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned old audit entries"),
                Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
            }
        },
    ));
    Background { stop, tasks }
}

async fn every<F, Fut>(stop: Stop, period: Duration, state: AppState, job: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait() => return,
            _ = ticker.tick() => job(state.clone()).await,
        }
    }
}

/// A stop signal many tasks can wait on.
mod tokio_util_lite {
    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct Stop {
        tx: std::sync::Arc<watch::Sender<bool>>,
        rx: watch::Receiver<bool>,
    }

    impl Stop {
        pub fn new() -> Self {
            let (tx, rx) = watch::channel(false);
            Stop {
                tx: std::sync::Arc::new(tx),
                rx,
            }
        }

        pub fn trigger(&self) {
            let _ = self.tx.send(true);
        }

        pub async fn wait(&self) {
            let mut rx = self.rx.clone();
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}
