//! `examples/aws-sources` as its README section shows it: the example's
//! own dataset files and handler, the resources its `seed.py` creates on a
//! moto server, and each dataset's counts as the seed's records imply.

use ferry_e2e_tests::expect::{Progress, total_progress};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::Running;
use ferry_e2e_tests::python_logs;
use ferry_e2e_tests::workspace::Workspace;

/// The example's directory in the repository.
fn example_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/aws-sources")
}

#[test]
fn every_example_dataset_reads_what_the_seed_wrote() {
    let workspace = Workspace::new();
    // The S3 dataset reads python-logs' generated files through its
    // handler; generating them here too gives the expected counts.
    let logs = python_logs::set_up(&workspace, 2000);
    let example = example_dir();
    let copies = [
        "handler.py",
        "seed.py",
        "s3.json",
        "sqs.json",
        "kinesis.json",
        "dynamodb-streams.json",
        "dynamodb-table.json",
    ];
    for name in copies {
        let text = std::fs::read(example.join(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        workspace.write(&format!("aws-sources/{name}"), text);
    }
    let python_logs_handler = std::fs::read(python_logs::example_dir().join("handler.py")).expect("the logs handler");
    workspace.write("python-logs/handler.py", python_logs_handler);
    std::fs::copy(python_logs::example_dir().join("generate.py"), workspace.path("python-logs/generate.py"))
        .expect("copy generate.py");

    let moto = Moto::start();
    let venv_python = std::env::var_os("FERRY_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"))
        .join("bin/python");
    let mut seed = std::process::Command::new(venv_python);
    seed.arg(workspace.path("aws-sources/seed.py"));
    moto.apply(&mut seed);
    let seeded = seed.output().expect("run seed.py");
    assert!(seeded.status.success(), "seed.py failed:\n{}", String::from_utf8_lossy(&seeded.stderr));

    // The SQS dataset has one reader: moto does not lock a message between
    // concurrent receives, so two readers could both get it.
    // Worked out from seed.py: orders 0-59, where n % 20 == 7 has no id
    // and n % 15 == 4 is a test order; clicks 0-199, where n % 50 == 9
    // has no id; orders 5, 30 and 55 are deleted and every sixth ships.
    let counts = |processed, errored, skipped| Progress { processed, errored, skipped };
    let cases = [
        ("s3.json", total_progress(&logs)),
        ("sqs.json", counts(53, 3, 4)),
        ("kinesis.json", counts(196, 4, 0)),
        ("dynamodb-streams.json", counts(69, 0, 4)),
        ("dynamodb-table.json", counts(53, 0, 4)),
    ];
    for (dataset, expected) in cases {
        let path = workspace.path(&format!("aws-sources/{dataset}"));
        let run = Running::start(moto.command(&workspace, &["run", path.to_str().expect("a UTF-8 path")])).wait();
        run.expect_code(0).expect_stdout_line(&expected.summary_line());
    }
}
