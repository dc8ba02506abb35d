//! `durable-bench --via http` against a real host process it starts.

use serde_json::Value;

fn bench(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_durable-bench"))
        .args(args)
        .output()
        .expect("the bench runs")
}

#[test]
fn w1_and_w3_run_over_http_and_report_their_figures() {
    for (workload, figure) in [("w1", "orch_per_s"), ("w3", "p50_ms")] {
        let output = bench(&[workload, "--via", "http", "--store", "memory", "--n", "5"]);
        assert!(output.status.success(), "{output:?}");
        let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
        assert_eq!(report["via"], "http");
        assert_eq!(report["workload"], workload);
        assert_eq!(report["n"], 5);
        assert!(report[figure].as_f64().is_some_and(|x| x > 0.0), "{report}");
    }
}

#[test]
fn other_workloads_do_not_run_over_http() {
    let output = bench(&["w2", "--via", "http"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("w1 and w3"), "{message}");
}
