//! Each template README's variable table names exactly the variables of its `variables.tf`.

use crate::templates::{Template, template_dir};

/// The variable names in the first column of the README's "Template variables" table
/// (`` | `a`, `b` | … `` rows name several).
fn documented(readme: &str) -> Vec<String> {
    let section = readme
        .split("\n## Template variables\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no \"## Template variables\" section"))
        .split("\n## ")
        .next()
        .unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or_default();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check(dir: &std::path::Path) {
    let template = Template::load_dir(dir);
    let declared: Vec<String> = template.variables().into_keys().collect();
    let readme = fs_err::read_to_string(dir.join("README.md")).unwrap();
    let mut documented = documented(&readme);
    documented.sort();
    documented.dedup();
    let undocumented: Vec<&String> = declared
        .iter()
        .filter(|v| !documented.contains(v))
        .collect();
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|v| !declared.contains(v))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{}: README's variable table lacks {undocumented:?} and names {unknown:?}, which variables.tf does not declare",
        dir.display()
    );
}

#[test]
fn docker_template_readme_lists_every_variable() {
    check(&template_dir());
}

#[test]
fn kubernetes_template_readme_lists_every_variable() {
    check(&template_dir().join("kubernetes"));
}
