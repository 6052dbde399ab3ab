//! Test support: sections of docs/ generated from the code, checked by tests so the docs cannot drift.
//!
//! A section sits between `<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`. With
//! `MYI_WRITE_DOCS=1` the test rewrites it instead of failing.

use std::path::Path;

/// Asserts that the generated section `name` of `doc` (relative to the repository) is `expected`.
pub fn generated_section(doc: &str, name: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let begin = format!("<!-- BEGIN GENERATED: {name} -->\n");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{doc} has no `{}` line", begin.trim()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{doc} has no `{end}` line"));
    if std::env::var_os("MYI_WRITE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("{doc}: {e}"));
        return;
    }
    assert_eq!(
        &text[start..stop],
        expected,
        "{doc} section {name} is out of date: run `MYI_WRITE_DOCS=1 cargo test --lib` and commit the result"
    );
}
