//! The store conformance suite: every `Store` operation, the same assertions, on SQLite and on
//! Postgres. A backend that behaves differently fails here.

use std::sync::Arc;

use baton::domain::ids::{CaseId, TeammateId, WorkspaceId};
use baton::domain::routing::{Mode, Rules};
use baton::domain::{Role, Status};
use baton::events::{EventKind, MessageKind};
use baton::store::*;
use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::common::{sql_exec, Db, TestDb};

fn inbound(email: &str, body: &str) -> Inbound {
    Inbound::email("Customer", email, body)
}

async fn on_backend<F, Fut>(db: Db, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let test_db = TestDb::new(db).await;
    let store = baton::store::connect(&test_db.url).await.expect("connect");
    test(store).await;
}

async fn workspace(store: &Arc<dyn Store>) -> (Workspace, Teammate) {
    let email = format!("owner-{}@example.com", Uuid::new_v4().simple());
    store
        .create_workspace(
            "Acme",
            "Olivia",
            &email,
            "hash",
            &format!("bti_{}", Uuid::new_v4().simple()),
        )
        .await
        .unwrap()
        .value
}

async fn member(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    by: TeammateId,
    name: &str,
    role: Role,
) -> Teammate {
    let token = Uuid::new_v4().to_string();
    store
        .create_invite(NewInvite {
            workspace_id: ws,
            email: format!(
                "{}-{}@example.com",
                name.to_lowercase(),
                Uuid::new_v4().simple()
            ),
            name: name.into(),
            role,
            invited_by: by,
            token_hash: token.clone(),
            expires_at: Utc::now() + Duration::days(1),
        })
        .await
        .unwrap();
    store
        .accept_invite(&token, Some("hash"))
        .await
        .unwrap()
        .value
        .1
}

on_both!(
    accounts_tokens_invites_and_prefs,
    accounts_tokens_invites_and_prefs_on
);
async fn accounts_tokens_invites_and_prefs_on(db: Db) {
    on_backend(db, |store| async move {
        let (ws, owner) = workspace(&store).await;
        assert_eq!(
            store.last_seq(ws.id).await.unwrap(),
            1,
            "joining is event 1"
        );
        let creds = store.credentials(&owner.email).await.unwrap().unwrap();
        assert_eq!(
            (creds.teammate.id, creds.password_hash.as_str()),
            (owner.id, "hash")
        );
        assert!(matches!(
            store
                .create_workspace("X", "Y", &owner.email, "h", "bti_other")
                .await,
            Err(StoreError::Conflict(Conflict::Email))
        ));

        store
            .create_token(
                owner.id,
                "session-hash",
                TokenKind::Session,
                Some(Utc::now() + Duration::hours(1)),
                &Default::default(),
            )
            .await
            .unwrap();
        store
            .create_token(
                owner.id,
                "expired-hash",
                TokenKind::Session,
                Some(Utc::now() - Duration::hours(1)),
                &Default::default(),
            )
            .await
            .unwrap();
        store
            .create_token(
                owner.id,
                "api-hash",
                TokenKind::Api,
                None,
                &Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .token_teammate("session-hash")
                .await
                .unwrap()
                .map(|o| (o.teammate.id, o.kind, o.expires_at.is_some())),
            Some((owner.id, TokenKind::Session, true))
        );
        assert_eq!(
            store
                .token_teammate("api-hash")
                .await
                .unwrap()
                .map(|o| (o.kind, o.expires_at)),
            Some((TokenKind::Api, None))
        );
        assert!(store
            .token_teammate("expired-hash")
            .await
            .unwrap()
            .is_none());
        store.delete_token("session-hash").await.unwrap();
        assert!(store
            .token_teammate("session-hash")
            .await
            .unwrap()
            .is_none());

        let agent = member(&store, ws.id, owner.id, "Alex", Role::Agent).await;
        assert!(matches!(
            store.accept_invite("nope", Some("h")).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            store
                .teammates(ws.id, Some("ALE"), baton::store::Which::Active)
                .await
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>(),
            vec![agent.id]
        );
        let viewer = member(&store, ws.id, owner.id, "Vic", Role::Viewer).await;
        assert!(!store
            .teammates(ws.id, None, baton::store::Which::Assignable)
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == viewer.id));

        let prefs = store.prefs(agent.id).await.unwrap();
        assert_eq!(prefs, NotificationPrefs::defaults_for(Role::Agent));
        assert!(store.prefs(owner.id).await.unwrap().unassigned);
        let changed = NotificationPrefs {
            chime: true,
            email_delay_secs: 60,
            ..prefs
        };
        store.set_prefs(agent.id, changed).await.unwrap();
        assert_eq!(store.prefs(agent.id).await.unwrap(), changed);

        let updated = store
            .update_teammate(ws.id, agent.id, owner.id, Some(Role::Manager), Some(true))
            .await
            .unwrap();
        assert_eq!(
            (updated.value.role, updated.value.away),
            (Role::Manager, true)
        );
        assert!(
            matches!(
                store
                    .update_teammate(ws.id, owner.id, owner.id, Some(Role::Admin), None)
                    .await,
                Err(StoreError::Invalid {
                    input: Input::Role,
                    reason: Refusal::LastOwnerDemoted,
                })
            ),
            "last owner stays"
        );

        let patched = store
            .update_workspace(
                ws.id,
                owner.id,
                WorkspacePatch {
                    case_prefix: Some("YS".into()),
                    reopen_days: Some(30),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (
                patched.value.case_prefix.as_str(),
                patched.value.reopen_days
            ),
            ("YS", 30)
        );
        store.set_ingest_token(ws.id, "bti_new").await.unwrap();
        assert_eq!(
            store
                .workspace_by_ingest_token("bti_new")
                .await
                .unwrap()
                .map(|w| w.id),
            Some(ws.id)
        );
        assert!(store
            .workspace_by_ingest_token(ws.ingest_token.as_deref().unwrap())
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

on_both!(
    a_job_of_an_unknown_channel_or_reason_fails_alone,
    a_job_of_an_unknown_channel_or_reason_fails_alone_on
);
async fn a_job_of_an_unknown_channel_or_reason_fails_alone_on(db: Db) {
    let test_db = TestDb::new(db).await;
    let store = baton::store::connect(&test_db.url).await.expect("connect");
    let (_, owner) = workspace(&store).await;
    let new_id = match db {
        Db::Sqlite => "randomblob(16)",
        Db::Postgres => "gen_random_uuid()",
    };
    // As a newer version might leave them: a channel or a reason this one does not know, next
    // to a job it does.
    for (channel, reason, key) in [
        ("fax", "inbound", "fax:1"),
        ("push", "digest", "digest:1"),
        ("email", "inbound", "email:1"),
    ] {
        let insert = format!(
            "INSERT INTO notification_jobs (id, workspace_id, teammate_id, channel, reason, \
             dedupe_key, payload, due_at, created_at) SELECT {new_id}, workspace_id, id, \
             '{channel}', '{reason}', '{key}', '{{}}', 0, 0 FROM teammates"
        );
        assert_eq!(sql_exec(db, &test_db.url, &insert).await, 1);
    }

    let jobs = store
        .claim_jobs(Utc::now(), 10, std::time::Duration::from_secs(60))
        .await
        .expect("the known job is claimed");
    assert_eq!(
        jobs.iter()
            .map(|j| (j.channel, j.reason, j.teammate_id))
            .collect::<Vec<_>>(),
        [(JobChannel::Email, JobReason::Inbound, owner.id)]
    );
    let counts = store.job_counts().await.unwrap();
    for channel in ["fax", "push"] {
        assert!(
            counts.contains(&(channel.into(), "failed".into(), 1)),
            "{counts:?}"
        );
    }
    for why in [
        "channel = 'fax' AND last_error = 'unknown channel fax'",
        "channel = 'push' AND last_error = 'unknown reason digest'",
    ] {
        let which = format!("UPDATE notification_jobs SET attempts = attempts WHERE {why}");
        assert_eq!(sql_exec(db, &test_db.url, &which).await, 1, "{why}");
    }
}

on_both!(
    cases_messages_reads_and_badges,
    cases_messages_reads_and_badges_on
);
async fn cases_messages_reads_and_badges_on(db: Db) {
    on_backend(db, |store| async move {
        let (ws, owner) = workspace(&store).await;
        let agent = member(&store, ws.id, owner.id, "Alex", Role::Agent).await;
        let created = store.inbound(ws.id, inbound("ann@example.com", "need a price")).await.unwrap();
        let kinds: Vec<&str> = created.events.iter().map(|e| e.event.name()).collect();
        assert_eq!(kinds, ["case.created", "message.created"]);
        let case_id = created.value.case_id;
        assert_eq!(store.badge(ws.id, owner.id).await.unwrap(), Badge { mine: 0, unassigned: 1 }, "owners watch unassigned");
        assert_eq!(store.badge(ws.id, agent.id).await.unwrap(), Badge::default(), "agents do not by default");

        let assigned = store.assign(ws.id, AssignRequest { case_id, assignee_id: Some(agent.id), if_version: Some(1), actor_id: owner.id }).await.unwrap();
        assert_eq!(assigned.value.version, 2, "the case's version after the assignment");
        assert_eq!(assigned.value.assignee_id, Some(agent.id), "the case as it is after the assignment");
        let read = store.case(ws.id, owner.id, case_id).await.unwrap();
        assert_eq!(serde_json::to_value(&assigned.value).unwrap(), serde_json::to_value(&read).unwrap(), "what a read of the case finds");
        assert!(matches!(&assigned.events[0].event, EventKind::CaseAssigned { previous_assignee_id: None, assignee_id: Some(a), .. } if *a == agent.id));
        let stale = store.assign(ws.id, AssignRequest { case_id, assignee_id: None, if_version: Some(1), actor_id: owner.id }).await;
        assert!(matches!(stale, Err(StoreError::Conflict(Conflict::CaseVersion { .. }))));
        assert_eq!(store.badge(ws.id, agent.id).await.unwrap(), Badge { mine: 1, unassigned: 0 });

        let case = store.case(ws.id, agent.id, case_id).await.unwrap();
        assert!(case.unread);
        store.mark_read(ws.id, case_id, agent.id).await.unwrap();
        assert!(!store.case(ws.id, agent.id, case_id).await.unwrap().unread);
        assert_eq!(store.badge(ws.id, agent.id).await.unwrap().mine, 0);
        let _ = store.inbound(ws.id, inbound("ann@example.com", "hello?")).await.unwrap();
        assert_eq!(store.badge(ws.id, agent.id).await.unwrap().mine, 1, "a new customer message is unread again");

        let reply = store.add_message(ws.id, case_id, agent.id, false, "On it", &[], &[]).await.unwrap();
        assert_eq!(reply.value.kind, MessageKind::Reply);
        assert_eq!(store.case(ws.id, agent.id, case_id).await.unwrap().status, Status::AwaitingCustomer);
        let note = store.add_message(ws.id, case_id, agent.id, true, "@olivia fyi", &[owner.id], &[]).await.unwrap();
        assert!(matches!(&note.events[0].event, EventKind::NoteCreated { mentions, .. } if mentions == &vec![owner.id]));

        let detail = store.case_detail(ws.id, owner.id, case_id).await.unwrap();
        assert_eq!(detail.messages.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["inbound", "inbound", "reply", "note"]);
        assert!(detail.timeline.iter().any(|t| t.kind == TimelineKind::Assigned && t.to_id == Some(agent.id) && t.actor_id == Some(owner.id)));

        let closed = store.set_status(ws.id, case_id, agent.id, Status::Won).await.unwrap();
        assert!(closed.value.closed_at.is_some());
        let counts = store.counts(ws.id, agent.id).await.unwrap();
        assert_eq!(counts.mine, FilterCounts { open: 0, unread: 0, closed: 1, breached: 0 });
        let found = store.cases(ws.id, agent.id, CaseQuery { view: View::Mine, filter: Filter::Closed, q: Some("price".into()), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![case_id]);
        assert!(matches!(store.case(ws.id, agent.id, CaseId::new()).await, Err(StoreError::NotFound)));
        let (other, _) = workspace(&store).await;
        assert!(matches!(store.case(other.id, owner.id, case_id).await, Err(StoreError::NotFound)), "no crossing workspaces");
    })
    .await;
}

on_both!(
    rules_bulk_departures_follow_ups_and_the_log,
    rules_bulk_departures_follow_ups_and_the_log_on
);
async fn rules_bulk_departures_follow_ups_and_the_log_on(db: Db) {
    on_backend(db, |store| async move {
        let (ws, owner) = workspace(&store).await;
        let a = member(&store, ws.id, owner.id, "Ann", Role::Agent).await;
        let b = member(&store, ws.id, owner.id, "Ben", Role::Agent).await;
        let v = member(&store, ws.id, owner.id, "Vic", Role::Viewer).await;
        let bad = store
            .set_rules(
                ws.id,
                owner.id,
                Rules {
                    mode: Mode::RoundRobin,
                    pool: vec![a.id, v.id],
                    ..Rules::default()
                },
            )
            .await;
        assert!(
            matches!(
                bad,
                Err(StoreError::Invalid {
                    input: Input::RulePool,
                    reason: Refusal::ViewerNotAssignable,
                })
            ),
            "viewers cannot be in the pool"
        );
        let rules = Rules {
            mode: Mode::RoundRobin,
            pool: vec![a.id, b.id],
            ..Rules::default()
        };
        let _ = store
            .set_rules(ws.id, owner.id, rules.clone())
            .await
            .unwrap();
        assert_eq!(store.rules(ws.id).await.unwrap(), rules);

        let mut owners = Vec::new();
        for i in 0..4 {
            owners.push(
                store
                    .inbound(ws.id, inbound(&format!("c{i}@example.com"), "hi"))
                    .await
                    .unwrap()
                    .value
                    .assignee_id,
            );
        }
        assert_eq!(owners, [Some(a.id), Some(b.id), Some(a.id), Some(b.id)]);
        let _ = store
            .update_teammate(ws.id, b.id, b.id, None, Some(true))
            .await
            .unwrap();
        let next = store
            .inbound(ws.id, inbound("c9@example.com", "hi"))
            .await
            .unwrap()
            .value
            .assignee_id;
        assert_eq!(next, Some(a.id), "away teammates are skipped");

        let moved = store
            .bulk_reassign(ws.id, owner.id, a.id, Some(b.id))
            .await
            .unwrap();
        assert_eq!(moved.value, 3);
        assert_eq!(moved.events.len(), 1, "one summary event");
        assert!(matches!(
            store.bulk_reassign(ws.id, owner.id, a.id, Some(v.id)).await,
            Err(StoreError::Invalid {
                input: Input::ReassignTo,
                reason: Refusal::ViewerNotAssignable,
            })
        ));

        let departed = store
            .remove_teammate(
                ws.id,
                owner.id,
                Departure {
                    teammate_id: b.id,
                    reassign_to: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(departed.value, 5);
        assert_eq!(
            store.counts(ws.id, owner.id).await.unwrap().unassigned.open,
            5,
            "back to the pool in the same step"
        );
        assert!(!store.teammate(ws.id, b.id).await.unwrap().active);
        let listed = |which| {
            let store = store.clone();
            async move {
                store
                    .teammates(ws.id, None, which)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|t| t.id == b.id)
                    .map(|t| t.active)
            }
        };
        assert_eq!(listed(baton::store::Which::Active).await, None);
        assert_eq!(listed(baton::store::Which::Assignable).await, None);
        assert_eq!(
            listed(baton::store::Which::EverMember).await,
            Some(false),
            "a removed teammate is still named on old cases"
        );
        assert!(
            store.credentials(&b.email).await.unwrap().is_none(),
            "removed teammates cannot sign in"
        );

        let case_id = store
            .inbound(ws.id, inbound("late@example.com", "hi"))
            .await
            .unwrap()
            .value
            .case_id;
        let _ = store
            .add_message(
                ws.id,
                case_id,
                owner.id,
                false,
                "we'll check back",
                &[],
                &[],
            )
            .await
            .unwrap();
        let _ = store
            .set_follow_up(
                ws.id,
                case_id,
                owner.id,
                Some(Utc::now() - Duration::seconds(1)),
            )
            .await
            .unwrap();
        let fired = store.fire_due_follow_ups(Utc::now()).await.unwrap();
        assert!(fired.iter().any(|e| matches!(
            &e.event,
            EventKind::CaseStatusChanged {
                status: Status::FollowUpDue,
                ..
            }
        )));
        assert!(
            store
                .fire_due_follow_ups(Utc::now())
                .await
                .unwrap()
                .is_empty(),
            "fires once"
        );
        let case = store.case(ws.id, owner.id, case_id).await.unwrap();
        assert_eq!(
            (case.status, case.follow_up_at),
            (Status::FollowUpDue, None)
        );

        let head = store.last_seq(ws.id).await.unwrap();
        let all = store.events_since(ws.id, 0, 10_000).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=head).collect::<Vec<_>>(),
            "gap-free from 1"
        );
        assert_eq!(
            store.events_since(ws.id, head - 2, 1).await.unwrap()[0].seq,
            head - 1
        );
        assert_eq!(store.first_retained_seq(ws.id).await.unwrap(), Some(1));
        store
            .prune_events(Utc::now() + Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(
            store.first_retained_seq(ws.id).await.unwrap(),
            Some(head),
            "pruning keeps the latest event"
        );
        assert_eq!(store.last_seq(ws.id).await.unwrap(), head);
    })
    .await;
}
