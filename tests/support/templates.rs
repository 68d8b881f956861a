//! The Coder templates (Docker `coder-template/`, Kubernetes `coder-template/kubernetes/`),
//! parsed with hcl-rs: their blocks, locals and variables, and the lookups the template tests
//! share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coder_convex::config::urls::App;
use hcl::eval::{Context, Evaluate as _};
use hcl::expr::{Expression, ObjectKey, TemplateExpr};
use hcl::{Block, Body};

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn template_dir() -> PathBuf {
    repo_root().join("coder-template")
}

/// Top-level blocks of every `.tf` file of the template, plus the raw text.
pub(crate) struct Template {
    blocks: Vec<Block>,
    pub(crate) text: String,
}

impl Template {
    pub(crate) fn load() -> Self {
        Self::load_dir(&template_dir())
    }

    /// The template in `dir` (the Docker one, or `kubernetes/`).
    pub(crate) fn load_dir(dir: &Path) -> Self {
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
            .expect("coder-template/ exists")
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| f.ends_with("main.tf")),
            "no main.tf in {files:?}"
        );
        let mut blocks = Vec::new();
        let mut text = String::new();
        for file in files {
            let source = fs_err::read_to_string(&file).expect("readable .tf file");
            let body: Body = hcl::parse(&source)
                .unwrap_or_else(|err| panic!("{} does not parse: {err}", file.display()));
            blocks.extend(body.into_blocks());
            text.push_str(&source);
        }
        Self { blocks, text }
    }

    /// `<kind> "<type>" "<name>"` blocks (resource, data) of one type, by name.
    pub(crate) fn labelled(&self, kind: &str, ty: &str) -> BTreeMap<String, &Body> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == kind)
            .filter(|b| b.labels().first().map(|l| l.as_str()) == Some(ty))
            .map(|b| {
                let name = b.labels().get(1).expect("a second label").as_str();
                (name.to_owned(), b.body())
            })
            .collect()
    }

    /// Every `<kind> "<type>" "<name>"` block: type, name, body.
    pub(crate) fn labelled_all(&self, kind: &str) -> Vec<(String, String, &Body)> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == kind)
            .map(|b| {
                let label = |i: usize| b.labels().get(i).expect("two labels").as_str().to_owned();
                (label(0), label(1), b.body())
            })
            .collect()
    }

    pub(crate) fn resources(&self, ty: &str) -> BTreeMap<String, &Body> {
        self.labelled("resource", ty)
    }

    pub(crate) fn resource(&self, ty: &str, name: &str) -> &Body {
        self.resources(ty)
            .remove(name)
            .unwrap_or_else(|| panic!("no resource {ty}.{name}"))
    }

    pub(crate) fn data(&self, ty: &str, name: &str) -> &Body {
        self.labelled("data", ty)
            .remove(name)
            .unwrap_or_else(|| panic!("no data.{ty}.{name}"))
    }

    pub(crate) fn local(&self, name: &str) -> &Expression {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == "locals")
            .find_map(|b| attr(b.body(), name))
            .unwrap_or_else(|| panic!("no local.{name}"))
    }

    /// The body of `variable "<name>"`.
    pub(crate) fn variable(&self, name: &str) -> &Body {
        self.blocks
            .iter()
            .find(|b| {
                b.identifier() == "variable" && b.labels().first().map(|l| l.as_str()) == Some(name)
            })
            .unwrap_or_else(|| panic!("no variable {name:?}"))
            .body()
    }

    pub(crate) fn variable_default(&self, name: &str) -> &Expression {
        attr(self.variable(name), "default")
            .unwrap_or_else(|| panic!("variable {name:?} has no default"))
    }

    /// Every `variable` block, by name.
    pub(crate) fn variables(&self) -> BTreeMap<String, &Body> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == "variable")
            .filter_map(|b| Some((b.labels().first()?.as_str().to_owned(), b.body())))
            .collect()
    }

    /// A string attribute's value with `${var.x}` (string default) and `${local.y}` (string
    /// local) substituted, for the plain cases this template uses.
    pub(crate) fn resolve(&self, expr: &Expression) -> String {
        let raw = match expr {
            Expression::Traversal(_) | Expression::Variable(_) => format!("${{{expr}}}"),
            other => text(other).unwrap_or_else(|| panic!("not a string: {other}")),
        };
        substitute(&raw, |inner| {
            if let Some(name) = inner.strip_prefix("var.") {
                Some(self.resolve(self.variable_default(name)))
            } else {
                inner
                    .strip_prefix("local.")
                    .map(|name| self.resolve(self.local(name)))
            }
        })
    }
}

pub(crate) fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub(crate) fn blocks<'a>(body: &'a Body, ident: &str) -> impl Iterator<Item = &'a Body> + 'a {
    let ident = ident.to_owned();
    body.blocks()
        .filter(move |b| b.identifier() == ident)
        .map(|b| b.body())
}

/// A `coder_parameter`'s options: its `option` blocks, then the `content` of each
/// `dynamic "option"` block with the expression that decides whether it is offered.
pub(crate) fn options(param: &Body) -> Vec<(String, Option<String>)> {
    let mut found: Vec<(String, Option<String>)> = blocks(param, "option")
        .map(|o| (text_attr(o, "value"), None))
        .collect();
    for dynamic in param.blocks().filter(|b| {
        b.identifier() == "dynamic" && b.labels().first().is_some_and(|l| l.as_str() == "option")
    }) {
        let content = single_block(dynamic.body(), "content");
        let condition = attr(dynamic.body(), "for_each").map(ToString::to_string);
        found.push((text_attr(content, "value"), condition));
    }
    found
}

pub(crate) fn single_block<'a>(body: &'a Body, ident: &str) -> &'a Body {
    let found: Vec<&Body> = blocks(body, ident).collect();
    assert_eq!(found.len(), 1, "expected one `{ident}` block");
    found[0]
}

/// A string or template attribute as its raw text (interpolations kept as `${…}`).
pub(crate) fn text(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => Some(match t.as_ref() {
            TemplateExpr::QuotedString(s) => s.clone(),
            TemplateExpr::Heredoc(h) => h.template.clone(),
        }),
        _ => None,
    }
}

pub(crate) fn text_attr(body: &Body, key: &str) -> String {
    let expr = attr(body, key).unwrap_or_else(|| panic!("no attribute {key:?}"));
    text(expr).unwrap_or_else(|| panic!("{key} is not a string: {expr}"))
}

pub(crate) fn bool_attr(body: &Body, key: &str) -> bool {
    match attr(body, key) {
        Some(Expression::Bool(b)) => *b,
        other => panic!("{key} is not a literal bool: {other:?}"),
    }
}

pub(crate) fn number_attr(body: &Body, key: &str) -> f64 {
    match attr(body, key) {
        Some(Expression::Number(n)) => n.as_f64().expect("a finite number"),
        other => panic!("{key} is not a literal number: {other:?}"),
    }
}

/// The expression as HCL source, for comparing references like `local.home`.
pub(crate) fn source(body: &Body, key: &str) -> String {
    attr(body, key)
        .unwrap_or_else(|| panic!("no attribute {key:?}"))
        .to_string()
}

/// Replace each top-level `${…}` whose inner text `f` knows; keep the others.
pub(crate) fn substitute(raw: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let mut depth = 1;
        let end = after
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .unwrap_or_else(|| panic!("unbalanced interpolation in {raw:?}"));
        let inner = after[..end].trim();
        match f(inner) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Keys of an object expression; `merge(…)` of objects and `local.*` references is followed.
pub(crate) fn object_keys(template: &Template, expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Object(object) => object
            .iter()
            .map(|(key, _)| match key {
                ObjectKey::Expression(expr) => text(expr).unwrap_or_else(|| expr.to_string()),
                other => other.to_string(),
            })
            .collect(),
        Expression::FuncCall(call) if call.name.name.as_str() == "merge" => call
            .args
            .iter()
            .flat_map(|arg| object_keys(template, arg))
            .collect(),
        Expression::Traversal(_) => {
            let reference = expr.to_string();
            let name = reference
                .strip_prefix("local.")
                .unwrap_or_else(|| panic!("not a local: {reference}"));
            object_keys(template, template.local(name))
        }
        other => panic!("not an object: {other}"),
    }
}

pub(crate) fn expected_share(app: App) -> &'static str {
    match app {
        // Browsers' websocket clients, the Convex CLI, the backend's own auth discovery
        // and webhooks arrive without a Coder session.
        App::Api | App::Site => "public",
        App::Dashboard => "owner",
    }
}

/// Convex publishes self-hosted releases as commit hashes; `latest` is not a pin.
pub(crate) fn assert_is_release_tag(tag: &str) {
    assert_ne!(tag, "latest");
    assert!(
        tag.len() == 40
            && tag
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{tag:?} is not a release commit hash"
    );
}

/// A list of string literals (`["a", "b"]`).
pub(crate) fn string_list(expr: &Expression) -> Vec<String> {
    let Expression::Array(items) = expr else {
        panic!("not a list: {expr}");
    };
    items
        .iter()
        .map(|item| text(item).unwrap_or_else(|| panic!("not a string: {item}")))
        .collect()
}

/// The `timeout` the templates give each metadata script (tests/it/template*.rs check it).
pub(crate) const METADATA_TIMEOUT_S: u32 = 5;

pub(crate) fn k8s_dir() -> PathBuf {
    template_dir().join("kubernetes")
}

pub(crate) fn both() -> [(&'static str, Template); 2] {
    [
        ("docker", Template::load_dir(&template_dir())),
        ("kubernetes", Template::load_dir(&k8s_dir())),
    ]
}

/// Upstream compose defaults, as `NAME=value` lines (a Docker env list, or the Kubernetes
/// template's `merge({…}, beacon ? {…} : {})`).
pub(crate) fn assert_upstream_backend_env(expr: &Expression) {
    let text = expr.to_string();
    for needle in [
        "DISABLE_METRICS_ENDPOINT",
        "DOCUMENT_RETENTION_DELAY",
        "var.document_retention_delay_seconds",
        "CONVEX_ENTRYPOINT_STOP_SIGNAL",
        "data.coder_parameter.disable_beacon.value ?",
        "DISABLE_BEACON",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    // Metrics off with exactly `true`, the stop signal exactly INT.
    let compact: String = text.split_whitespace().collect();
    assert!(
        compact.contains("\"DISABLE_METRICS_ENDPOINT=true\"")
            || compact.contains("DISABLE_METRICS_ENDPOINT=\"true\""),
        "{text}"
    );
    assert!(
        compact.contains("\"CONVEX_ENTRYPOINT_STOP_SIGNAL=INT\"")
            || compact.contains("CONVEX_ENTRYPOINT_STOP_SIGNAL=\"INT\""),
        "{text}"
    );
}

pub(crate) fn pod_spec(t: &Template) -> &hcl::Body {
    let deployment = t.resource("kubernetes_deployment_v1", "workspace");
    let spec = single_block(deployment, "spec");
    single_block(single_block(spec, "template"), "spec")
}

pub(crate) fn named<'a>(body: &'a hcl::Body, ident: &str, name: &str) -> &'a hcl::Body {
    blocks(body, ident)
        .find(|b| text_attr(b, "name") == name)
        .unwrap_or_else(|| panic!("no {ident} {name}"))
}

/// `local.seed_script` as Terraform renders it. Evaluating it without any variables also
/// proves that it interpolates nothing: no parameter value can become part of its text.
pub(crate) fn seed_script(t: &Template) -> String {
    match t.local("seed_script").evaluate(&Context::new()) {
        Ok(hcl::Value::String(script)) => script,
        other => panic!("local.seed_script is not a plain string: {other:?}"),
    }
}
