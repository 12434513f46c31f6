//! The measuring tools measure what they claim: the replay load generator's light clients
//! are served like the app (nothing refused, every sync done) and it reads the server
//! process's CPU and memory; the network bench's poor links really are poor, and a rep's
//! syncs over them still all complete.

use serde_json::Value;

fn run(bin: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(crate::support::workspace_bin(bin)).args(args).output().unwrap();
    assert!(out.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn replayed_app_traffic_is_accepted_and_the_server_process_is_measured() {
    let run = run(
        "fieldsync-load",
        &[
            "--mode",
            "replay",
            "--clients",
            "8",
            "--seconds",
            "4",
            "--ramp-up",
            "1",
            "--think",
            "0.5",
            "--cold-share",
            "0.5",
            "--calibration",
            "1",
        ],
    );
    assert_eq!(run["errors"], 0, "{run:#}");
    assert_eq!(run["rejected_mutations"], serde_json::json!({}), "replayed pushes are valid app work: {run:#}");
    assert_eq!(run["sync_success_rate"], 1.0, "{run:#}");
    assert!(run["endpoints"]["push"]["requests"].as_u64().unwrap() >= 4, "{run:#}");
    assert!(run["endpoints"]["login"]["requests"].as_u64().unwrap() == 4, "the cold half signed in: {run:#}");
    let server = &run["server"];
    assert!(server["cpu_seconds"].as_f64().unwrap() > 0.0, "{run:#}");
    assert!(server["peak_rss_mb"].as_u64().unwrap() > 1, "{run:#}");
    for kind in ["no-op pull", "single-edit push", "sign-in"] {
        let k = &run["cpu_ms_by_request_type"][kind];
        assert!(k["requests"].as_u64().unwrap() > 0 && k["cpu_ms"].as_f64().unwrap() > 0.0, "{kind}: {run:#}");
    }
}

#[test]
fn syncs_over_wifi_that_resets_connections_all_complete() {
    let run = run("fieldsync-bench", &["network", "--profile", "flaky-wifi", "--rounds", "6"]);
    let measured = &run["measured"];
    assert_eq!(measured["success_ratio"], 1.0, "{run:#}");
    let resets =
        measured["first_sync"]["resets"].as_u64().unwrap() + measured["incremental"]["resets"].as_u64().unwrap();
    assert!(resets > 0, "the link reset nothing: {run:#}");
    assert_eq!(run["baseline_clean_link"]["incremental"]["resets"], 0, "{run:#}");
}
