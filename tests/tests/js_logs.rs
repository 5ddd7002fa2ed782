//! The js-logs example against python-logs: the same handler written in
//! JavaScript and in Python, each called through its own bridge, over the
//! same data. Their outputs must be byte-identical; their error folders
//! must name the same records with the same error types (the messages of
//! a JSON parse error are each language's own).

use ferry_e2e_tests::rust_logs::{self, assert_same_outputs, error_types, records_line};
use ferry_e2e_tests::workspace::{Workspace, binaries};

#[test]
fn js_logs_writes_what_python_logs_writes() {
    let workspace = Workspace::new();
    rust_logs::set_up(&workspace);
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/js-logs");
    for file in ["dataset.json", "handler.mjs"] {
        std::fs::create_dir_all(workspace.path("js-logs")).expect("create js-logs");
        std::fs::copy(js.join(file), workspace.path(&format!("js-logs/{file}"))).expect("copy the js-logs example");
    }
    rust_logs::generate(&workspace, 2000);

    let python = rust_logs::run(&workspace, &binaries().ferry, "python-logs");
    python.expect_code(0);
    let javascript = rust_logs::run(&workspace, &binaries().ferry, "js-logs");
    javascript.expect_code(0);
    assert!(javascript.stdout.starts_with("dataset js-logs: COMPLETED in "), "{}", javascript.stdout);
    assert_eq!(records_line(&javascript), records_line(&python));

    assert_same_outputs(&workspace, "js-logs");
    let expected = error_types(&workspace, "python-logs");
    assert!(expected.iter().any(|(_, kind)| kind == "KeyError"), "the data has a line without an id");
    assert!(expected.iter().any(|(_, kind)| kind == "ErrorDoc"), "the data has malformed lines");
    assert_eq!(error_types(&workspace, "js-logs"), expected);
}
