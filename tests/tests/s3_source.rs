//! The S3 read connector against moto: the same datasets as the local file
//! tests, with their data files uploaded to a bucket and the local copies
//! removed, must give the same outputs and error files; a run stopped part
//! way through an object resumes mid-object (a ranged GET for a plain
//! object, decompress-and-skip for a gzip one).

use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::expect::{all_done, assert_errors, assert_outputs, total_progress};
use ferry_e2e_tests::gated_lines::{self, GateAt, Spec};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::python_logs;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

const BUCKET: &str = "ferry-input";

/// Uploads every file of the workspace's `data/` to the bucket (keys are
/// the file names), removes `data/`, and points the dataset file's read
/// connector at the bucket with `manifest` as its manifest.
fn move_data_to_s3(workspace: &Workspace, moto: &Moto, manifest: Value) {
    let bucket = Bucket::create(moto, BUCKET);
    for name in workspace.file_names("data") {
        bucket.put(&name, std::fs::read(workspace.path(&format!("data/{name}"))).expect("read a data file"));
    }
    std::fs::remove_dir_all(workspace.path("data")).expect("remove data/");
    let text = std::fs::read_to_string(workspace.dataset_file()).expect("read dataset.json");
    let mut dataset: Value = serde_json::from_str(&text).expect("dataset.json is JSON");
    dataset["readConnector"] = json!({
        "connectorDestination": "S3",
        "readerType": "Single File Reader",
        "bucketName": BUCKET,
        "bucketResourceLocation": "Customer",
        "artifactImplementationLanguage": "Python",
        "handlerPath": "handler.py",
    });
    dataset["manifestFile"] = manifest;
    workspace.write("dataset.json", format!("{dataset:#}\n"));
}

#[test]
fn objects_named_by_the_manifest_give_what_local_files_give() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 1500);
    let names: Vec<&str> = expected.iter().map(|task| task.task.as_str()).collect();
    let moto = Moto::start();
    move_data_to_s3(
        &workspace,
        &moto,
        json!({
            "manifestType": "S3ReaderTextManifestFile",
            "readerType": "SINGLEFILEREADER",
            "fileContents": names.join("\n"),
        }),
    );

    let run = moto.run(&workspace);
    run.expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&total_progress(&expected).summary_line());
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
    let results = moto.results(&workspace, python_logs::DATASET);
    let error = results.errors.values().next().expect("the logs hold failing lines");
    assert_eq!(error["bucket"], BUCKET, "error documents name the bucket: {error:#}");
}

#[test]
fn a_stopped_run_resumes_mid_object_for_plain_and_gzip_objects() {
    let workspace = Workspace::new();
    // One task at a time; a stops at its line 1500, then b (gzip) is
    // stopped at its line 1200 in the second run.
    let (expected, gates) = gated_lines::set_up(
        &workspace,
        &Spec {
            files: &[("a.jsonl", 3000), ("b.jsonl.gz", 3000)],
            concurrency: 1,
            checkpoint_interval_ms: 100,
            gates: &[
                GateAt { name: "in-a", file: "a.jsonl", seq: 1500 },
                GateAt { name: "in-b", file: "b.jsonl.gz", seq: 1200 },
            ],
        },
    );
    let moto = Moto::start();
    move_data_to_s3(&workspace, &moto, json!({ "prefix": "" }));

    for gate in &gates {
        let mut run = moto.spawn_run(&workspace);
        run.wait_at(gate);
        interrupt_at_gate(run, gate).expect_code(130);
        let stopped = workspace
            .tasks(gated_lines::DATASET)
            .into_iter()
            .find(|task| task.state == "PROCESSING")
            .expect("a task stopped part way");
        let checkpoint = stopped.checkpoint.expect("the stopped task has a checkpoint");
        assert!(checkpoint.source > 0, "{stopped:?}");
    }

    let last = moto.run(&workspace);
    last.expect_code(0).expect_stdout_line(&total_progress(&expected).summary_line());
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
}

#[test]
fn a_missing_bucket_fails_before_any_task_starts() {
    let workspace = Workspace::new();
    python_logs::set_up(&workspace, 10);
    let moto = Moto::start();
    move_data_to_s3(&workspace, &moto, json!({ "fileContents": "logs-0001.jsonl" }));
    let text = std::fs::read_to_string(workspace.dataset_file()).expect("read dataset.json");
    workspace.write("dataset.json", text.replace(BUCKET, "no-such-bucket"));

    let run = moto.run(&workspace);
    run.expect_code(1);
    assert!(
        run.stderr.contains("cannot list the tasks of the read connector: HeadBucket on s3://no-such-bucket failed"),
        "{}",
        run.stderr
    );
}
