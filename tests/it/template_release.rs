//! Both templates make the backend report its release by name: `GET /version` answers
//! `CONVEX_RELEASE_VERSION_DEV` (the image answers `unknown` without it), and coder-convex
//! compares that release's date with the project's `convex` CLI. The templates set it from
//! `local.convex_image_dates` (tag → commit date) for known tags only, in the format of
//! `compose::IMAGE_RELEASE`. The locals and the backend env are evaluated with hcl-rs, with
//! stand-ins for the few Terraform functions they call.

use coder_convex::containers::compose::{IMAGE_RELEASE, IMAGE_TAG};
use hcl::Value;
use hcl::eval::{Context, Evaluate as _, FuncArgs, FuncDef, ParamType};

use crate::templates::both;
use crate::templates::{Template, assert_is_release_tag};

const DEFAULT_TAG: &str = "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf";
const OLDER_TAG: &str = "4d3b0a5de955a258e70e3813bbff486051d88820";
const NAME: &str = "CONVEX_RELEASE_VERSION_DEV";

/// Terraform's `lookup(map, key, default)`.
fn lookup(args: FuncArgs) -> Result<Value, String> {
    let map = args[0].as_object().ok_or("lookup: not a map")?;
    let key = args[1].as_str().ok_or("lookup: key is not a string")?;
    Ok(map.get(key).cloned().unwrap_or_else(|| args[2].clone()))
}

/// Terraform's `substr(string, offset, length)`, for non-negative offsets and lengths.
fn substr(args: FuncArgs) -> Result<Value, String> {
    let s = args[0].as_str().ok_or("substr: not a string")?;
    let number = |v: &Value| {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("substr: not a non-negative integer")
    };
    let (offset, length) = (number(&args[1])?, number(&args[2])?);
    Ok(Value::from(
        s.chars().skip(offset).take(length).collect::<String>(),
    ))
}

/// Terraform's `compact(list)`: without empty strings and nulls.
fn compact(args: FuncArgs) -> Result<Value, String> {
    let list = args[0].as_array().ok_or("compact: not a list")?;
    Ok(Value::Array(
        list.iter()
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
            .cloned()
            .collect(),
    ))
}

/// Terraform's `merge(maps...)`: later keys win.
fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for arg in args.iter() {
        out.extend(arg.as_object().ok_or("merge: not a map")?.clone());
    }
    Ok(Value::Object(out))
}

/// Terraform's `concat(lists...)`.
fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for arg in args.iter() {
        out.extend(arg.as_array().ok_or("concat: not a list")?.iter().cloned());
    }
    Ok(Value::Array(out))
}

/// Terraform's `tostring(value)` for strings, numbers and bools.
fn tostring(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(match &args[0] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(format!("tostring: {other:?}")),
    }))
}

/// The template's variables (their defaults, with `convex_image_tag` = `tag`), the beacon
/// parameter off, and the locals the backend env needs, evaluated in order.
fn context(t: &Template, tag: &str) -> Context<'static> {
    context_with(t, tag, "")
}

/// [`context`] with the `convex_image_date` variable set (empty: its default).
fn context_with(t: &Template, tag: &str, date: &str) -> Context<'static> {
    let mut ctx = Context::new();
    let any3 = || [ParamType::Any, ParamType::Any, ParamType::Any];
    ctx.declare_func("lookup", FuncDef::new(lookup, any3()));
    ctx.declare_func("substr", FuncDef::new(substr, any3()));
    ctx.declare_func("compact", FuncDef::new(compact, [ParamType::Any]));
    ctx.declare_func("tostring", FuncDef::new(tostring, [ParamType::Any]));
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(concat),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(merge),
    );

    let mut vars = hcl::Map::new();
    for (name, body) in t.variables() {
        if let Some(default) = crate::templates::attr(body, "default") {
            let value = default
                .evaluate(&Context::new())
                .unwrap_or_else(|err| panic!("variable {name}: {err}"));
            vars.insert(name, value);
        }
    }
    vars.insert("convex_image_tag".to_owned(), Value::from(tag));
    if !date.is_empty() {
        vars.insert("convex_image_date".to_owned(), Value::from(date));
    }
    ctx.declare_var("var", Value::Object(vars));
    let data: Value = hcl::from_str("coder_parameter = { disable_beacon = { value = false } }")
        .expect("valid HCL");
    ctx.declare_var("data", data);

    let mut locals = hcl::Map::new();
    for name in [
        "convex_image_dates",
        "convex_image_date",
        "convex_release",
        "backend_env",
    ] {
        ctx.declare_var("local", Value::Object(locals.clone()));
        let value = t
            .local(name)
            .evaluate(&ctx)
            .unwrap_or_else(|err| panic!("local.{name}: {err}"));
        locals.insert(name.to_owned(), value);
    }
    ctx.declare_var("local", Value::Object(locals));
    ctx
}

fn local(t: &Template, tag: &str, name: &str) -> Value {
    let expr: hcl::Expression = format!("local.{name}").parse().expect("a reference");
    expr.evaluate(&context(t, tag))
        .unwrap_or_else(|err| panic!("local.{name}: {err}"))
}

/// The backend's `CONVEX_RELEASE_VERSION_DEV`, if set: from the Docker env list
/// (`NAME=value`) or the Kubernetes env map.
fn release_in_backend_env(t: &Template, tag: &str) -> Option<String> {
    match local(t, tag, "backend_env") {
        Value::Array(items) => {
            let found: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str()?.strip_prefix(&format!("{NAME}=")))
                .map(str::to_owned)
                .collect();
            assert!(found.len() <= 1, "{found:?}");
            found.into_iter().next()
        }
        Value::Object(map) => map
            .get(NAME)
            .map(|v| v.as_str().expect("a string").to_owned()),
        other => panic!("backend_env is {other:?}"),
    }
}

#[test]
fn both_templates_know_the_same_image_dates() {
    let expected = Value::Object(
        [(DEFAULT_TAG, "2026-08-21"), (OLDER_TAG, "2025-09-11")]
            .into_iter()
            .map(|(tag, date)| (tag.to_owned(), Value::from(date)))
            .collect(),
    );
    for (name, t) in both() {
        let dates = local(&t, DEFAULT_TAG, "convex_image_dates");
        assert_eq!(dates, expected, "{name}");
        for (tag, date) in dates.as_object().unwrap() {
            assert_is_release_tag(tag);
            let date = date.as_str().unwrap();
            assert!(
                date.len() == 10
                    && date.char_indices().all(|(i, c)| if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }),
                "{name}: {date} is not YYYY-MM-DD"
            );
        }
    }
}

#[test]
fn the_pinned_tag_has_a_date_and_the_backend_reports_its_release() {
    for (name, t) in both() {
        let tag = t.resolve(t.variable_default("convex_image_tag"));
        assert_eq!(tag, DEFAULT_TAG, "{name}");
        assert_eq!(tag, IMAGE_TAG, "{name}");
        let dates = local(&t, &tag, "convex_image_dates");
        let date = dates.as_object().unwrap()[&tag]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no date for the pinned tag"))
            .to_owned();
        // The format of the binary's own pin: what the compose file makes `up`'s backend report.
        let computed = format!("precompiled-{date}-{}", &tag[..7]);
        assert_eq!(computed, IMAGE_RELEASE, "{name}");
        assert_eq!(computed, "precompiled-2026-08-21-652b828", "{name}");

        assert_eq!(
            local(&t, &tag, "convex_release"),
            Value::from(computed.clone()),
            "{name}"
        );
        assert_eq!(
            release_in_backend_env(&t, &tag).as_deref(),
            Some(computed.as_str()),
            "{name}"
        );
        // The expression itself: set only when the tag has a date.
        assert_eq!(
            t.local("convex_image_date").to_string(),
            r#"var.convex_image_date != "" ? var.convex_image_date : lookup(local.convex_image_dates, var.convex_image_tag, "")"#,
            "{name}"
        );
    }
}

#[test]
fn another_known_tag_reports_its_own_release_and_an_unknown_tag_none() {
    for (name, t) in both() {
        assert_eq!(
            release_in_backend_env(&t, OLDER_TAG).as_deref(),
            Some("precompiled-2025-09-11-4d3b0a5"),
            "{name}"
        );
        // An unknown tag sets nothing: the backend reports `unknown`, and coder-convex says it
        // cannot tell, rather than guessing a date.
        let unknown = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(release_in_backend_env(&t, unknown), None, "{name}");
        assert_eq!(
            local(&t, unknown, "convex_release"),
            Value::from(""),
            "{name}"
        );
        // The other backend settings are unaffected (checked in detail by template_team.rs).
        let env = format!("{:?}", local(&t, unknown, "backend_env"));
        assert!(env.contains("DISABLE_METRICS_ENDPOINT"), "{name}: {env}");
        assert!(!env.contains("DISABLE_BEACON"), "{name}: beacon off: {env}");
    }
}

/// An upgrade is a push with two variables and no edit: a tag the template does not know,
/// with its date, reports its release.
#[test]
fn a_new_tag_with_its_date_variable_reports_its_release() {
    let tag = "fedcba9876543210fedcba9876543210fedcba98";
    for (name, t) in both() {
        let expr: hcl::Expression = "local.convex_release".parse().expect("a reference");
        let release = expr
            .evaluate(&context_with(&t, tag, "2026-11-30"))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            release,
            Value::from("precompiled-2026-11-30-fedcba9"),
            "{name}"
        );
        // The known tag's own date still wins when the variable is empty.
        assert_eq!(
            local(&t, DEFAULT_TAG, "convex_release"),
            Value::from("precompiled-2026-08-21-652b828"),
            "{name}"
        );
        let declared = t.variable_default("convex_image_date");
        assert_eq!(t.resolve(declared), "", "{name}");
    }
}
