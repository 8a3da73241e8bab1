//! Driving load: actions over HTTP at a set rate (new customers, follow-ups, assignments),
//! each stamped when sent, and after each step the match of every event the workers saw to
//! the action that caused it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::accounts::Workspace;
use crate::histogram::Hist;
use crate::host::mono_ns;
use crate::http::{inbound, ok_json};
use crate::servers::Server;
use crate::sockets::final_seqs;
use crate::worker::{all_workers, CatEvent, Finished, ToWorker, Worker};

/// A case the drive made, and what is in flight or done on it.
#[derive(Debug, Default, Clone)]
struct CaseSt {
    id: String,
    email: String,
    busy: bool,
    broken: bool,
    msgs: u32,
    assigns: u32,
}

/// What the drive has done: the cases of each workspace, when each action was sent, and the
/// current step's HTTP latencies and errors.
#[derive(Default)]
pub struct DriveState {
    cases: Vec<Vec<CaseSt>>,
    /// (case_id, kind, occurrence) → send time.
    sends: HashMap<(String, &'static str, u32), u64>,
    http: Hist,
    actions: u64,
    errors: u64,
    error_sample: Vec<String>,
    customers: u64,
    /// Events seen so far per (case_id, kind), across steps.
    seen: HashMap<(String, String), u32>,
}

impl DriveState {
    pub fn new(workspaces: usize) -> DriveState {
        DriveState {
            cases: vec![vec![]; workspaces],
            ..Default::default()
        }
    }
}

enum Action {
    New {
        ws: usize,
        email: String,
    },
    FollowUp {
        ws: usize,
        case: usize,
        occ: u32,
    },
    Assign {
        ws: usize,
        case: usize,
        occ: u32,
        to: Option<String>,
    },
}

fn pick_action(st: &mut DriveState, wss: &[Workspace], rng: &mut impl Rng) -> Action {
    let ws = rng.gen_range(0..wss.len());
    let cases = &mut st.cases[ws];
    if !cases.is_empty() && rng.gen_bool(0.8) {
        for _ in 0..8 {
            let ci = rng.gen_range(0..cases.len());
            let c = &mut cases[ci];
            if c.busy || c.broken {
                continue;
            }
            c.busy = true;
            if rng.gen_bool(0.5) {
                let occ = c.msgs;
                c.msgs += 1;
                return Action::FollowUp { ws, case: ci, occ };
            }
            let occ = c.assigns;
            c.assigns += 1;
            // Cycle through every teammate and "unassigned": each step changes the assignee.
            let mates = &wss[ws].mates;
            let slot = occ as usize % (mates.len() + 1);
            let to = mates.get(slot).map(|m| m.id.clone());
            return Action::Assign {
                ws,
                case: ci,
                occ,
                to,
            };
        }
    }
    st.customers += 1;
    Action::New {
        ws,
        email: format!("c{}-{}@customer.invalid", st.customers, rng.gen::<u32>()),
    }
}

async fn run_action(
    http: &reqwest::Client,
    url: &str,
    wss: &[Workspace],
    st: &Mutex<DriveState>,
    action: Action,
) {
    let sent = mono_ns();
    let (ws, case_idx, result): (usize, Option<usize>, Result<Value>) = match &action {
        Action::New { ws, email } => (*ws, None, inbound(http, url, &wss[*ws].ingest, email).await),
        Action::FollowUp { ws, case, .. } => {
            let email = st.lock().unwrap().cases[*ws][*case].email.clone();
            (
                *ws,
                Some(*case),
                inbound(http, url, &wss[*ws].ingest, &email).await,
            )
        }
        Action::Assign { ws, case, to, .. } => {
            let id = st.lock().unwrap().cases[*ws][*case].id.clone();
            let actor = &wss[*ws].mates[0].token;
            let r = http
                .put(format!("{url}/api/cases/{id}/assignee"))
                .bearer_auth(actor)
                .json(&json!({ "assignee_id": to }))
                .send()
                .await;
            let res = match r {
                Ok(r) => ok_json(r, "PUT assignee").await,
                Err(e) => Err(e.into()),
            };
            (*ws, Some(*case), res)
        }
    };
    let done = mono_ns();
    let mut s = st.lock().unwrap();
    s.actions += 1;
    s.http.add((done - sent) / 1000);
    match result {
        Err(e) => {
            s.errors += 1;
            if s.error_sample.len() < 5 {
                s.error_sample.push(format!("{e:#}"));
            }
            if let Some(ci) = case_idx {
                // Whether the event exists is unknown: stop using this case.
                s.cases[ws][ci].broken = true;
                s.cases[ws][ci].busy = false;
            }
        }
        Ok(v) => match action {
            Action::New { email, .. } => {
                let id = v["case_id"].as_str().unwrap_or_default().to_string();
                if v["created"].as_bool() == Some(true) {
                    s.sends.insert((id.clone(), "case.created", 0), sent);
                    s.sends.insert((id.clone(), "message.created", 0), sent);
                    s.cases[ws].push(CaseSt {
                        id,
                        email,
                        msgs: 1,
                        ..Default::default()
                    });
                }
            }
            Action::FollowUp { case, occ, .. } => {
                let id = s.cases[ws][case].id.clone();
                s.sends.insert((id, "message.created", occ), sent);
                s.cases[ws][case].busy = false;
            }
            Action::Assign { case, occ, .. } => {
                let id = s.cases[ws][case].id.clone();
                s.sends.insert((id, "case.assigned", occ), sent);
                s.cases[ws][case].busy = false;
            }
        },
    }
}

/// What one `drive` did.
pub struct Driven {
    pub actions: u64,
    pub seconds: f64,
    /// Actions sent more than 50 ms after their time (the tool could not keep the rate: the
    /// step's rate is then lower than asked, and its latencies understate the queueing).
    pub late: u64,
}

/// Open-loop: action `i` is due at `start + i / rate`; at most `concurrency` in flight.
pub async fn drive(
    http: &reqwest::Client,
    url: &str,
    wss: &Arc<Vec<Workspace>>,
    st: &Arc<Mutex<DriveState>>,
    rate: f64,
    duration: f64,
    concurrency: usize,
) -> Driven {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs_f64(duration);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut tasks = tokio::task::JoinSet::new();
    let mut i: u64 = 0;
    let mut late = 0u64;
    loop {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due).await;
        let permit = sem.clone().acquire_owned().await.unwrap();
        if tokio::time::Instant::now() > due + Duration::from_millis(50) {
            late += 1;
        }
        let action = pick_action(&mut st.lock().unwrap(), wss, &mut rng);
        let (http, url, wss, st) = (http.clone(), url.to_string(), wss.clone(), st.clone());
        tasks.spawn(async move {
            run_action(&http, &url, &wss, &st, action).await;
            drop(permit);
        });
        i += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Driven {
        actions: i,
        seconds: start.elapsed().as_secs_f64(),
        late,
    }
}

/// After a step: match arrivals to actions, count misses and duplicates, build histograms.
pub async fn measure_step(
    workers: &mut [Worker],
    server: &Server,
    wss: &[Workspace],
    st: &Mutex<DriveState>,
    groups: u32,
    secs: f64,
) -> Result<Value> {
    let finals = final_seqs(server, wss).await?;
    let cmds = workers.iter().map(|_| ToWorker::Catalog).collect();
    let replies = all_workers(workers, cmds).await?;
    let mut merged: BTreeMap<(u32, u64), CatEvent> = BTreeMap::new();
    for r in replies {
        let evs: Vec<CatEvent> = serde_json::from_value(r["events"].clone())?;
        for e in evs {
            match merged.get_mut(&(e.ws, e.seq)) {
                Some(m) => {
                    m.n += e.n;
                    m.min = m.min.min(e.min);
                    m.max = m.max.max(e.max);
                }
                None => {
                    merged.insert((e.ws, e.seq), e);
                }
            }
        }
    }
    // The k-th event of a kind on a case answers the k-th action of that kind on it: actions on
    // one case are never in flight together, so their commit order is their send order.
    let mut sends = vec![];
    let mut last = Hist::default();
    let mut first = Hist::default();
    let mut unmatched = 0u64;
    {
        let mut guard = st.lock().unwrap();
        let s = &mut *guard;
        for ((ws, seq), e) in &merged {
            let k = s.seen.entry((e.case.clone(), e.kind.clone())).or_default();
            let n = *k;
            *k += 1;
            let key_kind: &'static str = match e.kind.as_str() {
                "case.created" => "case.created",
                "message.created" => "message.created",
                "case.assigned" => "case.assigned",
                _ => "",
            };
            match s.sends.get(&(e.case.clone(), key_kind, n)) {
                Some(t) => {
                    sends.push((*ws, *seq, *t));
                    last.add(e.max.saturating_sub(*t) / 1000);
                    first.add(e.min.saturating_sub(*t) / 1000);
                }
                None => unmatched += 1,
            }
        }
    }
    let cmds = workers
        .iter()
        .map(|_| ToWorker::Finish {
            finals: finals.clone(),
            sends: sends.clone(),
            groups,
        })
        .collect();
    let replies = all_workers(workers, cmds).await?;
    let mut f = Finished {
        hists: vec![Hist::default(); groups as usize],
        ..Default::default()
    };
    for r in replies {
        let x: Finished = serde_json::from_value(r)?;
        f.deliveries += x.deliveries;
        f.matched += x.matched;
        f.missed += x.missed;
        f.duplicates += x.duplicates;
        f.closed += x.closed;
        for (a, b) in f.hists.iter_mut().zip(x.hists.iter()) {
            a.merge(b);
        }
    }
    let mut all = Hist::default();
    for h in &f.hists {
        all.merge(h);
    }
    let mut s = st.lock().unwrap();
    let out = json!({
        "events": merged.len(),
        "events_unmatched": unmatched,
        "deliveries": f.deliveries,
        "deliveries_per_s": (f.deliveries as f64 / secs).round(),
        "missed": f.missed,
        "duplicates": f.duplicates,
        "sockets_closed": f.closed,
        "latency_ms": all.summary(),
        "last_recipient_ms": last.summary(),
        "first_recipient_ms": first.summary(),
        "latency_by_instance_ms": f.hists.iter().map(|h| h.summary()).collect::<Vec<_>>(),
        "http_ms": s.http.summary(),
        "actions": s.actions,
        "action_errors": s.errors,
        "action_error_sample": s.error_sample.clone(),
    });
    s.sends.clear();
    s.http = Hist::default();
    s.actions = 0;
    s.errors = 0;
    s.error_sample.clear();
    Ok(out)
}
