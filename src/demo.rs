//! `baton --demo`: a demo workspace with a few teammates and cases, and a calm stream of
//! customer messages and teammate actions, so a newcomer sees the live inbox at work.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::domain::routing::{Mode, Rules};
use crate::store::{AssignRequest, Inbound, NewInvite, Teammate};
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
    let hash = crate::http::auth::hash_password(PASSWORD)?;
    let created = state
        .store
        .create_workspace(
            "Sunny Side Services",
            "Olivia Owner",
            owner_email,
            &hash,
            &crate::http::extract::new_token("bti_"),
        )
        .await?;
    let (workspace, owner) = created.value;
    for (name, email, role) in [
        (
            "Maya Manager",
            "maya@demo.baton",
            crate::domain::Role::Manager,
        ),
        ("Alex Agent", "alex@demo.baton", crate::domain::Role::Agent),
        ("Sam Agent", "sam@demo.baton", crate::domain::Role::Agent),
        ("Vic Viewer", "vic@demo.baton", crate::domain::Role::Viewer),
    ] {
        let token = crate::http::extract::new_token("");
        state
            .store
            .create_invite(NewInvite {
                workspace_id: workspace.id,
                email: email.into(),
                name: name.into(),
                role,
                invited_by: owner.id,
                token_hash: crate::http::extract::hash_token(&token),
                expires_at: chrono::Utc::now() + chrono::Duration::days(1),
            })
            .await?;
        state
            .store
            .accept_invite(&crate::http::extract::hash_token(&token), &hash)
            .await?;
    }
    let team = state
        .store
        .teammates(workspace.id, None, crate::store::Which::Active)
        .await?;
    let pool = team
        .iter()
        .filter(|t| t.role == crate::domain::Role::Agent)
        .map(|t| t.id)
        .collect();
    state
        .store
        .set_rules(
            workspace.id,
            owner.id,
            Rules {
                mode: Mode::RoundRobin,
                pool,
                ..Rules::default()
            },
        )
        .await?;
    for (i, (name, email)) in CUSTOMERS.iter().take(5).enumerate() {
        state
            .store
            .inbound(workspace.id, Inbound::email(name, email, LINES[i]))
            .await?;
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
        let roll = rng.gen_range(0..10);
        let result = if roll < 6 {
            let (name, email) = *CUSTOMERS.choose(&mut rng).expect("customers");
            let line = *LINES.choose(&mut rng).expect("lines");
            state
                .store
                .inbound(workspace_id, Inbound::email(name, email, line))
                .await
                .map(|c| c.events)
        } else {
            let actor = *workers.choose(&mut rng).expect("workers");
            let to = *workers.choose(&mut rng).expect("workers");
            match state
                .store
                .cases(
                    workspace_id,
                    actor.id,
                    crate::store::CaseQuery {
                        limit: 20,
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(cases) => match cases.choose(&mut rng) {
                    Some(case) => state
                        .store
                        .assign(
                            workspace_id,
                            AssignRequest {
                                case_id: case.id,
                                assignee_id: Some(to.id),
                                if_version: None,
                                actor_id: actor.id,
                            },
                        )
                        .await
                        .map(|c| c.events),
                    None => Ok(Vec::new()),
                },
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(events) => state.publish(events).await,
            Err(e) => tracing::warn!(error = %e, "demo step failed"),
        }
    }
}
