//! The load generator itself: a few seconds of `baton-bench fanout` against a server it starts on
//! SQLite must report deliveries, no missed and no duplicate events. No timing is asserted: this
//! machine's speed is not the tool's correctness.

use std::process::Command;

use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn bench_fanout_smoke_reports_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fanout.json");
    let svg = dir.path().join("fanout.svg");
    let status = tokio::task::spawn_blocking({
        let (out, svg) = (out.clone(), svg.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_baton-bench"))
                .args(["fanout", "--spawn", "--db", "sqlite", "--server-bin"])
                .arg(env!("CARGO_BIN_EXE_baton"))
                .args(["--teammates", "3", "--sockets", "6", "--workers", "2"])
                .args(["--rate", "10,20", "--duration", "1.5", "--drain", "1"])
                .arg("--json")
                .arg(&out)
                .arg("--svg")
                .arg(&svg)
                .status()
                .expect("run baton-bench")
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "baton-bench failed: {status}");
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(result["scenario"], "fanout");
    assert_eq!(result["sockets"], 6);
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        assert_eq!(step["missed"], 0, "{step}");
        assert_eq!(step["duplicates"], 0, "{step}");
        assert_eq!(step["action_errors"], 0, "{step}");
        assert!(step["deliveries"].as_u64().unwrap() > 0, "{step}");
        assert_eq!(step["events_unmatched"], 0, "{step}");
        assert!(step["latency_ms"]["count"].as_u64().unwrap() > 0, "{step}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"));
}
