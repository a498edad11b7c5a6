//! The outputs of the bundled sample logs, as people and programs read
//! them, held as snapshots: any change to what `report` or `check` says
//! shows as a diff to look at (`cargo insta review`, or run the tests with
//! `INSTA_UPDATE=always` and read `git diff`).

use crate::util::{logspike, root, run};

/// A command on the sample logs, from the repository (so file names are
/// relative), in UTC and without this machine's server config.
fn on_samples(args: &[&str]) -> String {
    let r = run(logspike()
        .current_dir(root())
        .env("TZ", "UTC")
        .args(args)
        .args(["--no-server-config", "sample-logs/"]))
    .ok();
    r.stdout
}

#[test]
fn text_report() {
    insta::assert_snapshot!("report_text", on_samples(&["report"]));
}

#[test]
fn json_report() {
    insta::assert_snapshot!("report_json", on_samples(&["report", "--output", "json"]));
}

#[test]
fn check() {
    insta::assert_snapshot!("check_text", on_samples(&["check"]));
}
