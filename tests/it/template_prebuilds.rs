//! Presets and prebuilt workspaces in both templates, HCL parsed and evaluated: one preset
//! per database choice setting the `database` parameter, a `prebuilds` block only when its
//! template variable asks for instances, and the resources a claim must not replace
//! (`lifecycle.ignore_changes` on everything named or labelled after the owner or workspace).

use std::collections::BTreeMap;

use hcl::eval::{Context, Evaluate as _, FuncArgs, FuncDef, ParamType};
use hcl::{Body, Expression, Value};

use crate::templates::{Template, attr, both, options, text_attr};

/// Terraform's `merge` of objects, and `nonsensitive` (the identity here).
fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for arg in args.iter() {
        let object = arg.as_object().ok_or("merge takes objects")?;
        out.extend(object.clone());
    }
    Ok(Value::Object(out))
}

fn identity(args: FuncArgs) -> Result<Value, String> {
    Ok(args[0].clone())
}

/// A plan-time context: every variable's default with `vars` over it, the parameters' names
/// and defaults as `data.coder_parameter.*`, and `local.first_start_parameters`.
fn context(t: &Template, vars: &[(&str, Value)]) -> Context<'static> {
    let mut ctx = Context::new();
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(merge),
    );
    ctx.declare_func(
        "nonsensitive",
        FuncDef::builder().param(ParamType::Any).build(identity),
    );
    let mut var = hcl::Map::new();
    for (name, body) in t.variables() {
        if let Some(default) = attr(body, "default") {
            var.insert(name, default.evaluate(&Context::new()).unwrap());
        }
    }
    for (name, value) in vars {
        assert!(var.contains_key(*name), "no variable {name}");
        var.insert((*name).to_owned(), value.clone());
    }
    ctx.declare_var("var", Value::Object(var));
    let mut parameters = hcl::Map::new();
    for (key, body) in t.labelled("data", "coder_parameter") {
        let default = match attr(body, "default").map(|d| d.evaluate(&ctx).unwrap()) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut p = hcl::Map::new();
        p.insert("name".to_owned(), Value::from(text_attr(body, "name")));
        p.insert("default".to_owned(), Value::from(default));
        parameters.insert(key, Value::Object(p));
    }
    let mut data = hcl::Map::new();
    data.insert("coder_parameter".to_owned(), Value::Object(parameters));
    ctx.declare_var("data", Value::Object(data));
    let first_start = t.local("first_start_parameters").evaluate(&ctx).unwrap();
    let mut local = hcl::Map::new();
    local.insert("first_start_parameters".to_owned(), first_start);
    ctx.declare_var("local", Value::Object(local));
    ctx
}

/// A preset as Coder would see it: its parameters and its prebuilt instances.
#[derive(Debug, PartialEq)]
struct Preset {
    name: String,
    parameters: BTreeMap<String, String>,
    prebuilds: Option<u64>,
}

fn eval(expr: &Expression, ctx: &Context<'_>) -> Value {
    expr.evaluate(ctx)
        .unwrap_or_else(|e| panic!("{expr} does not evaluate: {e}"))
}

/// The presets the template declares under `vars` (a `count` of 0 leaves one out).
fn presets(t: &Template, vars: &[(&str, Value)]) -> BTreeMap<String, Preset> {
    let ctx = context(t, vars);
    let mut out = BTreeMap::new();
    for (key, body) in t.labelled("data", "coder_workspace_preset") {
        if let Some(count) = attr(body, "count") {
            match eval(count, &ctx) {
                Value::Number(n) if n.as_u64() == Some(0) => continue,
                Value::Number(n) if n.as_u64() == Some(1) => {}
                other => panic!("{key}: count is {other}"),
            }
        }
        assert!(
            body.blocks().all(|b| b.identifier() != "prebuilds"),
            "{key}: a static prebuilds block would keep a pool even at 0"
        );
        let parameters = match eval(attr(body, "parameters").unwrap(), &ctx) {
            Value::Object(o) => o
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => panic!("{key}: parameter {k} is {other}"),
                })
                .collect(),
            other => panic!("{key}: parameters are {other}"),
        };
        let dynamic: Vec<&Body> = body
            .blocks()
            .filter(|b| {
                b.identifier() == "dynamic"
                    && b.labels().first().map(|l| l.as_str()) == Some("prebuilds")
            })
            .map(|b| b.body())
            .collect();
        assert_eq!(dynamic.len(), 1, "{key}: one dynamic prebuilds block");
        let prebuilds = match eval(attr(dynamic[0], "for_each").unwrap(), &ctx) {
            Value::Array(items) if items.is_empty() => None,
            Value::Array(items) if items.len() == 1 => {
                let content = crate::templates::single_block(dynamic[0], "content");
                match eval(attr(content, "instances").unwrap(), &ctx) {
                    Value::Number(n) => Some(n.as_u64().unwrap()),
                    other => panic!("{key}: instances is {other}"),
                }
            }
            other => panic!("{key}: for_each is {other}"),
        };
        out.insert(
            key.clone(),
            Preset {
                name: text_attr(body, "name"),
                parameters,
                prebuilds,
            },
        );
    }
    out
}

fn preset(name: &str, parameters: &[(&str, &str)], prebuilds: Option<u64>) -> Preset {
    Preset {
        name: name.to_owned(),
        parameters: parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        prebuilds,
    }
}

fn n(v: u64) -> Value {
    Value::from(v)
}

fn s(v: &str) -> Value {
    Value::from(v)
}

const REPO: &str = "https://git.example.com/team/app.git";

#[test]
fn docker_presets_set_the_database_and_a_pool_only_when_asked() {
    let t = Template::load();
    let mut none = presets(&t, &[]);
    assert_eq!(
        none.remove("sqlite"),
        Some(preset("SQLite (embedded)", &[("database", "sqlite")], None))
    );
    assert_eq!(
        none.remove("postgres"),
        Some(preset(
            "Postgres (sidecar)",
            &[("database", "postgres")],
            None
        ))
    );
    assert!(
        none.is_empty(),
        "no shared preset without a server: {none:?}"
    );

    // A pool fixes what a prebuild already did on its first start: the clone and the seed.
    let pooled = presets(
        &t,
        &[
            ("prebuilds_sqlite", n(2)),
            ("prebuilds_shared", n(3)),
            (
                "shared_postgres_url",
                s("postgres://admin:pw@db:5432/postgres"),
            ),
            ("project_repo_url", s(REPO)),
        ],
    );
    let fixed = |database: &'static str| {
        vec![
            ("database", database),
            ("project_repo", REPO),
            ("seed_data", ""),
        ]
    };
    assert_eq!(
        pooled,
        BTreeMap::from([
            (
                "sqlite".to_owned(),
                preset("SQLite (embedded)", &fixed("sqlite"), Some(2))
            ),
            (
                "postgres".to_owned(),
                preset("Postgres (sidecar)", &[("database", "postgres")], None)
            ),
            (
                "shared".to_owned(),
                preset("Shared Postgres", &fixed("shared"), Some(3))
            ),
        ])
    );
    assert_presets_name_real_parameters_and_options(&t, &pooled);
}

#[test]
fn kubernetes_presets_set_the_database_and_a_pool_only_when_asked() {
    let t = Template::load_dir(&crate::templates::k8s_dir());
    let none = presets(&t, &[]);
    assert_eq!(
        none,
        BTreeMap::from([(
            "sqlite".to_owned(),
            preset("SQLite (embedded)", &[("database", "sqlite")], None)
        )])
    );
    // No Postgres sidecar here: the shared server is the Postgres preset. A pool fixes the
    // volumes' sizes (made by the prebuild) and the seed.
    let pooled = presets(
        &t,
        &[
            ("prebuilds_shared", n(1)),
            ("prebuilds_shared_mysql", n(4)),
            (
                "shared_postgres_url",
                s("postgres://admin:pw@db:5432/postgres"),
            ),
            ("shared_mysql_url", s("mysql://admin:pw@db:3306")),
        ],
    );
    let fixed = |database: &'static str| {
        vec![
            ("database", database),
            ("home_disk_size", "10"),
            ("convex_disk_size", "10"),
            ("seed_data", ""),
        ]
    };
    assert_eq!(
        pooled,
        BTreeMap::from([
            (
                "sqlite".to_owned(),
                preset("SQLite (embedded)", &[("database", "sqlite")], None)
            ),
            (
                "shared".to_owned(),
                preset("Shared Postgres", &fixed("shared"), Some(1))
            ),
            (
                "shared_mysql".to_owned(),
                preset("Shared MySQL (8.0+)", &fixed("shared-mysql"), Some(4))
            ),
        ])
    );
    assert_presets_name_real_parameters_and_options(&t, &pooled);
}

/// Each preset parameter exists, and each database value is one the parameter offers (under
/// the same condition: a shared preset exists exactly where its option does).
#[track_caller]
fn assert_presets_name_real_parameters_and_options(
    t: &Template,
    presets: &BTreeMap<String, Preset>,
) {
    let names: Vec<String> = t
        .labelled("data", "coder_parameter")
        .values()
        .map(|p| text_attr(p, "name"))
        .collect();
    let offered = options(t.data("coder_parameter", "database"));
    for (key, p) in presets {
        for name in p.parameters.keys() {
            assert!(names.contains(name), "{key}: no parameter {name}");
        }
        let database = &p.parameters["database"];
        let (_, condition) = offered
            .iter()
            .find(|(value, _)| value == database)
            .unwrap_or_else(|| panic!("{key}: {database} is not an option"));
        let count =
            attr(t.labelled("data", "coder_workspace_preset")[key], "count").map(|c| c.to_string());
        match (condition, count) {
            (None, None) => {}
            (Some(option), Some(count)) => {
                let url = |text: &str| {
                    text.split_whitespace()
                        .find(|w| w.contains("var.shared_"))
                        .map(|w| w.trim_start_matches("nonsensitive(").to_owned())
                };
                assert_eq!(url(option), url(&count), "{key}");
            }
            other => panic!("{key}: option and preset conditions differ: {other:?}"),
        }
    }
}

/// Where an expression's text (with `local.*` followed) names the owner or the workspace
/// name, which a claim changes.
fn names_owner_or_workspace(t: &Template, text: &str, depth: usize) -> bool {
    assert!(depth < 8, "locals nest too deep: {text}");
    if text.contains("data.coder_workspace.me.name")
        || text.contains("data.coder_workspace_owner.me.")
    {
        return true;
    }
    text.match_indices("local.").any(|(i, _)| {
        let name: String = text[i + 6..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names_owner_or_workspace(t, &t.local(&name).to_string(), depth + 1)
    })
}

/// Every attribute path in `body` (`metadata[0].labels`, `labels` for a dynamic block) whose
/// value names the owner or the workspace name.
fn identity_paths(t: &Template, body: &Body, prefix: &str, out: &mut Vec<String>) {
    for a in body.attributes() {
        if names_owner_or_workspace(t, &a.expr().to_string(), 0) {
            out.push(format!("{prefix}{}", a.key()));
        }
    }
    for b in body.blocks() {
        let path = match (b.identifier(), b.labels().first()) {
            ("lifecycle", _) => continue,
            ("dynamic", Some(label)) => format!("{prefix}{}", label.as_str()),
            (ident, _) => format!("{prefix}{ident}[0]"),
        };
        let before = out.len();
        identity_paths(t, b.body(), &format!("{path}."), out);
        // A dynamic block is ignored as a whole (`labels`), by its own name.
        if b.identifier() == "dynamic" && out.len() > before {
            out.truncate(before);
            out.push(path);
        }
    }
}

/// `ignore_changes` of a resource: `["all"]`, the paths, or nothing.
fn ignored(body: &Body) -> Vec<String> {
    let Some(lifecycle) = body.blocks().find(|b| b.identifier() == "lifecycle") else {
        return Vec::new();
    };
    match attr(lifecycle.body(), "ignore_changes") {
        None => Vec::new(),
        Some(Expression::Array(items)) => items.iter().map(ToString::to_string).collect(),
        Some(other) => vec![other.to_string()],
    }
}

/// Kubernetes objects whose labels the provider updates in place: no data, no restart.
const UPDATED_IN_PLACE: [&str; 2] = [
    "kubernetes_secret_v1.workspace",
    "kubernetes_config_map_v1.convex_entrypoint",
];

#[test]
fn a_claim_replaces_nothing_named_after_the_owner_or_the_workspace() {
    let mut rules = BTreeMap::new();
    for (kind, t) in both() {
        for block in t.labelled_all("resource") {
            let (ty, name, body) = block;
            let key = format!("{ty}.{name}");
            let mut paths = Vec::new();
            identity_paths(&t, body, "", &mut paths);
            // Every attribute of an agent forces a new one, whose token and init script are
            // unknown until the apply: the containers and the pod that use them would be
            // replaced at the claim. The owner's values go to coder_env instead.
            if ty == "coder_agent" {
                assert_eq!(paths, Vec::<String>::new(), "{kind}: {key}");
            }
            if ty.starts_with("coder_") || ty.starts_with("random_") {
                continue; // Coder's other resources and the generated password.
            }
            let ignore = ignored(body);
            if !UPDATED_IN_PLACE.contains(&key.as_str()) && ignore != ["all"] {
                for path in &paths {
                    assert!(
                        ignore.iter().any(|i| path
                            .strip_prefix(i.as_str())
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))),
                        "{kind}: {key}.{path} names the owner or the workspace, and a claim would replace it: add it to lifecycle.ignore_changes"
                    );
                }
            }
            if !ignore.is_empty() {
                rules.insert(format!("{kind}: {key}"), ignore.join(", "));
            }
        }
    }
    let expected: BTreeMap<String, String> = [
        ("docker: docker_volume.home_volume", "all"),
        ("docker: docker_volume.convex_data", "all"),
        ("docker: docker_volume.postgres_data", "all"),
        ("docker: docker_volume.convex_db_credentials", "all"),
        ("docker: docker_container.network", "name, hostname, labels"),
        ("docker: docker_container.workspace", "name, labels"),
        ("docker: docker_container.convex_backend", "name, labels"),
        ("docker: docker_container.convex_dashboard", "name, labels"),
        (
            "docker: docker_container.convex_db_provision",
            "name, labels, env",
        ),
        ("docker: docker_container.postgres", "name, labels"),
        (
            "kubernetes: kubernetes_persistent_volume_claim_v1.home",
            "all",
        ),
        (
            "kubernetes: kubernetes_persistent_volume_claim_v1.convex_data",
            "all",
        ),
        (
            "kubernetes: kubernetes_deployment_v1.workspace",
            "metadata[0].labels, spec[0].selector, spec[0].template[0].metadata[0].labels",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(rules, expected);
}
