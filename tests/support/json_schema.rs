//! A small JSON Schema checker for the subset `docs/statistics.schema.json` uses: `type` (one or
//! several), `const`, `enum`, `minimum`, `properties`, `required`, `additionalProperties: false`,
//! `items`, `oneOf`, and local `$ref` (`#/$defs/NAME`). Anything else in a schema is an error, so
//! the schema cannot silently use a keyword this checker ignores.

use serde_json::Value;

/// Checks `doc` against `schema`; the errors name the JSON path of each violation.
pub fn check(schema: &Value, doc: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check_at(schema, schema, doc, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "minimum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "oneOf",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema uses unknown type {other:?}"),
    }
}

fn check_at(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let s = schema.as_object().unwrap_or_else(|| panic!("schema at {path} is not an object"));
    for k in s.keys() {
        assert!(KNOWN.contains(&k.as_str()), "schema keyword {k:?} at {path} is not supported by this checker");
    }
    if let Some(r) = s.get("$ref") {
        let name = r.as_str().and_then(|r| r.strip_prefix("#/$defs/")).expect("only #/$defs/NAME references");
        let target = root.get("$defs").and_then(|d| d.get(name)).unwrap_or_else(|| panic!("no $defs/{name}"));
        check_at(root, target, v, path, errors);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().map(|x| x.as_str().expect("type names")).collect(),
            _ => panic!("bad type at {path}"),
        };
        if !types.iter().any(|t| type_ok(t, v)) {
            errors.push(format!("{path}: {v} is not of type {types:?}"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errors.push(format!("{path}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            errors.push(format!("{path}: {v} is not one of {options:?}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{path}: {n} is below {min}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req {
                let r = r.as_str().expect("required names");
                if !obj.contains_key(r) {
                    errors.push(format!("{path}: missing field {r:?}"));
                }
            }
        }
        for (k, fv) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check_at(root, ps, fv, &format!("{path}.{k}"), errors),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: field {k:?} is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check_at(root, items, x, &format!("{path}[{i}]"), errors);
        }
    }
    if let Some(Value::Array(options)) = s.get("oneOf") {
        let mut matched = 0;
        let mut why = Vec::new();
        for o in options {
            let mut e = Vec::new();
            check_at(root, o, v, path, &mut e);
            if e.is_empty() {
                matched += 1;
            } else {
                why.extend(e);
            }
        }
        if matched != 1 {
            errors.push(format!("{path}: matches {matched} of the oneOf alternatives, not 1 ({})", why.join("; ")));
        }
    }
}
