//! `baton --demo`: a demo workspace with a few teammates and cases, and a calm stream of
//! customer messages and teammate actions, so a newcomer sees the live inbox at work.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::domain::routing::{Mode, Rules};
use crate::domain::Role;
use crate::service;
use crate::store::{Inbound, Teammate};
use crate::AppState;

pub const PASSWORD: &str = "baton-demo";

const CUSTOMERS: [(&str, &str); 8] = [
    ("Amara Okafor", "amara@example.com"),
    ("Jonas Weber", "jonas@example.com"),
    ("Priya Raman", "priya@example.com"),
    ("Lucas Martin", "lucas@example.com"),
    ("Mei Chen", "mei@example.com"),
    ("Diego Alvarez", "diego@example.com"),
    ("Sofia Rossi", "sofia@example.com"),
    ("Kwame Mensah", "kwame@example.com"),
];

const LINES: [&str; 10] = [
    "Hi! Could you send me a quote for a deep clean of a 3-bedroom flat?",
    "What are your prices for a weekly garden service?",
    "The technician didn't show up this morning. I'd like a refund.",
    "Do you cover the north side of town?",
    "Thanks, that works for me. Can we do Thursday at 10?",
    "Just checking in on my last message, any update?",
    "Is there parking near your shop?",
    "The invoice has the wrong address on it, can you fix it?",
    "Can I change my booking to next week?",
    "Great service last time, I'd like to book again.",
];

/// Seeds (once) and starts the feed.
pub async fn start(state: AppState) -> anyhow::Result<()> {
    let owner_email = "owner@demo.baton";
    let team = match state.store.credentials(owner_email).await? {
        Some(c) => {
            state
                .store
                .teammates(c.teammate.workspace_id, None, crate::store::Which::Active)
                .await?
        }
        None => seed(&state, owner_email).await?,
    };
    println!(
        "Demo workspace ready. Sign in at {} with any of these (password: {PASSWORD}):",
        state.origin
    );
    for t in &team {
        println!("  {:<8} {}", t.role.as_str(), t.email);
    }
    tokio::spawn(feed(state, team));
    Ok(())
}

async fn seed(state: &AppState, owner_email: &str) -> anyhow::Result<Vec<Teammate>> {
    let password = || PASSWORD.to_string();
    let (workspace, owner) = service::accounts::sign_up(
        state,
        "Sunny Side Services",
        "Olivia Owner",
        owner_email,
        password(),
    )
    .await?;
    for (name, email, role) in [
        ("Maya Manager", "maya@demo.baton", Role::Manager),
        ("Alex Agent", "alex@demo.baton", Role::Agent),
        ("Sam Agent", "sam@demo.baton", Role::Agent),
        ("Vic Viewer", "vic@demo.baton", Role::Viewer),
    ] {
        let token = service::team::invite(state, &owner, email, name, role).await?;
        service::accounts::accept_invite(state, &token, Some(password())).await?;
    }
    let team = state
        .store
        .teammates(workspace.id, None, crate::store::Which::Active)
        .await?;
    let pool = team
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.id)
        .collect();
    let rules = Rules {
        mode: Mode::RoundRobin,
        pool,
        ..Rules::default()
    };
    service::rules::put(state, &owner, rules).await?;
    for (i, (name, email)) in CUSTOMERS.iter().take(5).enumerate() {
        let message = Inbound::email(name, email, LINES[i]);
        service::inbound::receive(state, workspace.id, message).await?;
    }
    Ok(team)
}

async fn feed(state: AppState, team: Vec<Teammate>) {
    let Some(workspace_id) = team.first().map(|t| t.workspace_id) else {
        return;
    };
    let workers: Vec<&Teammate> = team.iter().filter(|t| t.role.can_be_assigned()).collect();
    let mut rng = StdRng::from_entropy();
    loop {
        let pause = rng.gen_range(6..15);
        tokio::time::sleep(Duration::from_secs(pause)).await;
        if let Err(e) = step(&state, workspace_id, &workers, &mut rng).await {
            tracing::warn!(error = %e, "demo step failed");
        }
    }
}

/// One thing happens: a customer writes, or a teammate hands a case to another.
async fn step(
    state: &AppState,
    workspace_id: crate::domain::ids::WorkspaceId,
    workers: &[&Teammate],
    rng: &mut StdRng,
) -> crate::error::Result<()> {
    if rng.gen_range(0..10) < 6 {
        let (name, email) = *CUSTOMERS.choose(rng).expect("customers");
        let line = *LINES.choose(rng).expect("lines");
        let message = Inbound::email(name, email, line);
        service::inbound::receive(state, workspace_id, message).await?;
        return Ok(());
    }
    let actor = *workers.choose(rng).expect("workers");
    let to = *workers.choose(rng).expect("workers");
    let query = crate::store::CaseQuery {
        limit: 20,
        ..Default::default()
    };
    let cases = state.store.cases(workspace_id, actor.id, query).await?;
    if let Some(case) = cases.choose(rng) {
        service::assignment::assign(state, actor, case.id, Some(to.id), None).await?;
    }
    Ok(())
}
