//! The Coder templates (Docker `coder-template/`, Kubernetes `coder-template/kubernetes/`) and
//! the Convex module they call (`coder-module/`, copied into each as `modules/convex/`), parsed
//! with hcl-rs: their blocks, locals and variables, the module's scripts rendered as
//! `templatefile` renders them, and the lookups the template tests share.

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

/// The Convex module as the repository holds it (`coder-module/`).
pub(crate) fn module_dir() -> PathBuf {
    repo_root().join("coder-module")
}

/// Top-level blocks of every `.tf` file of the template, plus the raw text, and the local
/// module it calls as `module "convex"` (its own blocks and text: its `var.*` are the call's
/// arguments).
pub(crate) struct Template {
    blocks: Vec<Block>,
    pub(crate) text: String,
    pub(crate) dir: PathBuf,
    module: Option<Box<Template>>,
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
        let mut template = Self {
            blocks,
            text,
            dir: dir.to_owned(),
            module: None,
        };
        if let Some(call) = template.labelled("module", "convex").remove("convex") {
            let source = text_attr(call, "source");
            let path = source
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("module \"convex\" is not a local copy: {source}"));
            template.module = Some(Box::new(Self::load_dir(&dir.join(path))));
        }
        template
    }

    /// The Convex module this template calls.
    pub(crate) fn convex(&self) -> &Template {
        self.module
            .as_deref()
            .unwrap_or_else(|| panic!("{} calls no module \"convex\"", self.dir.display()))
    }

    /// The argument `name` of the template's `module "convex"` call, if it sets one.
    pub(crate) fn module_arg(&self, name: &str) -> Option<&Expression> {
        self.blocks
            .iter()
            .find(|b| {
                b.identifier() == "module"
                    && b.labels().first().map(|l| l.as_str()) == Some("convex")
            })
            .and_then(|b| attr(b.body(), name))
    }

    /// A module attribute's value in this template: `var.x` is the call's argument (resolved
    /// in the template), or the module's default when the call sets none.
    pub(crate) fn resolve_in_module(&self, expr: &Expression) -> String {
        let reference = expr.to_string();
        match reference
            .strip_prefix("var.")
            .and_then(|name| self.module_arg(name))
        {
            Some(arg) => self.resolve(arg),
            None => self.convex().resolve(expr),
        }
    }

    /// `<kind> "<type>" "<name>"` blocks (resource, data) of one type, by name.
    /// `module "<name>"` blocks have one label: they are returned under it.
    pub(crate) fn labelled(&self, kind: &str, ty: &str) -> BTreeMap<String, &Body> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == kind)
            .filter(|b| b.labels().first().map(|l| l.as_str()) == Some(ty))
            .map(|b| {
                let name = b.labels().get(1).unwrap_or(&b.labels()[0]).as_str();
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

/// Base64, as Terraform's `base64encode` writes it.
pub(crate) fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The names `local.start_script` passes to `templatefile` (the keys of its object).
pub(crate) fn start_script_vars(module: &Template) -> Vec<String> {
    let Expression::FuncCall(call) = module.local("start_script") else {
        panic!("local.start_script is a templatefile() call");
    };
    assert_eq!(call.name.name.as_str(), "templatefile");
    assert_eq!(
        call.args[0].to_string(),
        r#""${path.module}/scripts/start.sh.tftpl""#
    );
    object_keys(module, &call.args[1])
}

/// The module's start script as `templatefile` renders it with `vars`, which must be exactly
/// the names main.tf passes (a name the file uses and main.tf does not pass fails to render).
pub(crate) fn render_start(module: &Template, vars: &[(&str, String)]) -> String {
    let mut names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    names.sort_unstable();
    let mut passed = start_script_vars(module);
    passed.sort();
    assert_eq!(names, passed, "the variables of templatefile()");
    let source = fs_err::read_to_string(module.dir.join("scripts/start.sh.tftpl")).expect("read");
    let template: hcl::Template = source.parse().expect("start.sh.tftpl parses as a template");
    let mut ctx = Context::new();
    for (name, value) in vars {
        ctx.declare_var(*name, value.as_str());
    }
    template
        .evaluate(&ctx)
        .unwrap_or_else(|err| panic!("start.sh.tftpl does not render: {err}"))
}

/// The module's start script for `mode`, with `installer` as scripts/install.sh and the
/// pre- and post-setup scripts given.
pub(crate) fn module_start(
    module: &Template,
    mode: &str,
    installer: &str,
    pre: &str,
    post: &str,
) -> String {
    render_start(
        module,
        &[
            ("MODE", mode.to_owned()),
            ("SKIP_INSTALL", "false".to_owned()),
            ("INSTALL_SH", b64(installer)),
            ("PRE_SETUP_SCRIPT", b64(pre)),
            ("POST_SETUP_SCRIPT", b64(post)),
            ("BACKEND_CHECKSUMS", b64("")),
        ],
    )
}

/// A template's startup script as the agent gets it: the module's start script with the
/// template's arguments, `installer` for scripts/install.sh, `packages` for the template's
/// `local.packages_script` and `seed` for its `local.seed_script`.
pub(crate) fn template_start(t: &Template, installer: &str, packages: &str, seed: &str) -> String {
    let mode = text(t.module_arg("backend_mode").expect("backend_mode")).expect("a literal mode");
    assert_eq!(
        t.module_arg("pre_setup_script")
            .map(ToString::to_string)
            .as_deref(),
        Some("local.pre_setup_script")
    );
    assert_eq!(
        t.module_arg("post_setup_script")
            .map(ToString::to_string)
            .as_deref(),
        Some("local.seed_script")
    );
    let pre = text(t.local("pre_setup_script"))
        .expect("a heredoc")
        .replace("${base64encode(local.packages_script)}", &b64(packages));
    assert!(!pre.replace("$${", "").contains("${"), "{pre}");
    let pre = pre.replace("$${", "${");
    module_start(t.convex(), &mode, installer, &pre, seed)
}
