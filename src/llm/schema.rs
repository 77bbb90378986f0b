//! Checks a JSON value against the small JSON Schema subset sage's prompts
//! use: `type` (object, array, string, number, integer, boolean, null),
//! `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
//! `minItems`/`maxItems`, `minimum`/`maximum`. Unknown keywords are ignored.

use serde_json::Value;

/// Validates `value` against `schema`; the error names the JSON path and the
/// rule broken, so it can be shown to the model when re-asking.
pub fn validate(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, "$")
}

fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Some(rules) = schema.as_object() else {
        return Ok(());
    };
    if let Some(expected) = rules.get("type") {
        let allowed: Vec<&str> = match expected {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
            return Err(format!(
                "{path}: expected {}, found {}",
                allowed.join(" or "),
                type_name(value)
            ));
        }
    }
    if let Some(Value::Array(options)) = rules.get("enum")
        && !options.contains(value)
    {
        return Err(format!(
            "{path}: {value} is not one of {}",
            Value::Array(options.clone())
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = rules.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{path}: {n} is below the minimum {min}"));
        }
        if let Some(max) = rules.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{path}: {n} is above the maximum {max}"));
        }
    }
    match value {
        Value::Object(fields) => check_object(fields, rules, path),
        Value::Array(items) => check_array(items, rules, path),
        _ => Ok(()),
    }
}

fn check_object(
    fields: &serde_json::Map<String, Value>,
    rules: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    let properties = rules.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = rules.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Err(format!("{path}: missing required field `{name}`"));
            }
        }
    }
    for (name, field) in fields {
        let child = format!("{path}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(sub) => check(field, sub, &child)?,
            None if rules.get("additionalProperties") == Some(&Value::Bool(false)) => {
                return Err(format!("{path}: unexpected field `{name}`"));
            }
            None => {}
        }
    }
    Ok(())
}

fn check_array(
    items: &[Value],
    rules: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    let len = items.len() as u64;
    if let Some(min) = rules.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        return Err(format!("{path}: has {len} items, needs at least {min}"));
    }
    if let Some(max) = rules.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        return Err(format!("{path}: has {len} items, allows at most {max}"));
    }
    if let Some(item_schema) = rules.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether OpenAI's `strict` structured-output mode accepts `schema`: every
/// object lists all its properties as required and forbids extra ones.
pub fn is_strict_compatible(schema: &Value) -> bool {
    let Some(rules) = schema.as_object() else {
        return true;
    };
    if let Some(props) = rules.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = rules
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let closed = rules.get("additionalProperties") == Some(&Value::Bool(false));
        if !closed
            || props.keys().any(|k| !required.contains(&k.as_str()))
            || !props.values().all(is_strict_compatible)
        {
            return false;
        }
    }
    rules.get("items").is_none_or(is_strict_compatible)
}

/// Most bracket positions [`extract_json`] tries as the start of a value.
/// Each try scans the rest of the text, so without a bound a reply of
/// `[[[[…` would take time quadratic in its length.
pub const MAX_JSON_STARTS: usize = 64;

/// `schema` without its `pattern` rules, for servers that compile the
/// schema into a grammar: llama-cpp-python's converter cannot parse regex
/// escapes such as `\s` and its server dies on the grammar. Replies are
/// still checked against the full rules here and by the reasoner.
pub fn without_patterns(schema: &Value) -> Value {
    match schema {
        Value::Object(rules) => Value::Object(
            rules
                .iter()
                .filter(|(key, value)| !(key.as_str() == "pattern" && value.is_string()))
                .map(|(key, value)| (key.clone(), without_patterns(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_patterns).collect()),
        other => other.clone(),
    }
}

/// Finds the JSON value in a model's free-text reply: the whole text, else
/// the first ```json fenced block, else the first balanced `{…}` or `[…]`
/// that parses, among the first [`MAX_JSON_STARTS`] brackets.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Ok(v);
    }
    if let Some(block) = fenced_block(trimmed)
        && let Ok(v) = serde_json::from_str(block.trim())
    {
        return Ok(v);
    }
    let starts = trimmed
        .char_indices()
        .filter(|&(_, c)| c == '{' || c == '[')
        .take(MAX_JSON_STARTS);
    for (start, _) in starts {
        if let Some(end) = balanced_end(&trimmed[start..])
            && let Ok(v) = serde_json::from_str(&trimmed[start..start + end])
        {
            return Ok(v);
        }
    }
    Err("the reply contains no parseable JSON object or array".to_string())
}

fn fenced_block(text: &str) -> Option<&str> {
    let start = text.find("```")?;
    let after = &text[start + 3..];
    let body_start = after.find('\n')? + 1;
    let body = &after[body_start..];
    let end = body.find("```")?;
    Some(&body[..end])
}

/// Byte length of the bracketed value that opens `text`, skipping brackets
/// inside strings.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hypotheses_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "hypotheses": {
                    "type": "array", "minItems": 1, "maxItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string"},
                            "kind": {"enum": ["token", "context"]},
                            "strength": {"type": "number", "minimum": 0, "maximum": 10},
                            "rank": {"type": "integer"},
                            "negated": {"type": "boolean"}
                        },
                        "required": ["label", "kind"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["hypotheses"]
        })
    }

    #[test]
    fn patterns_are_dropped_but_a_property_named_pattern_is_kept() {
        let schema = json!({"type": "object", "properties": {
            "label": {"type": "string", "pattern": "^\\S+$"},
            "pattern": {"type": "string"}}});
        assert_eq!(
            without_patterns(&schema),
            json!({"type": "object", "properties": {
                "label": {"type": "string"}, "pattern": {"type": "string"}}})
        );
    }

    #[test]
    fn a_reply_of_endless_brackets_is_refused_in_bounded_work() {
        // Unbounded, this is ~5e11 steps; bounded, 64 scans of the text.
        let brackets = "[".repeat(1_000_000);
        assert!(extract_json(&brackets).is_err());
        let mixed = format!("{} and then {{\"a\": 1}}", "[x ".repeat(100_000));
        assert!(extract_json(&mixed).is_err(), "past the bound, by design");
        let prose = format!("{}{{\"a\": 1}}", "[x] ".repeat(10));
        assert_eq!(extract_json(&prose).unwrap(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn accepts_a_conforming_value() {
        let v = json!({"hypotheses": [{"label": "months", "kind": "token", "strength": 7.5, "rank": 1, "negated": false}]});
        assert_eq!(validate(&v, &hypotheses_schema()), Ok(()));
    }

    #[test]
    fn reports_each_kind_of_violation_with_its_path() {
        let s = hypotheses_schema();
        let cases = [
            (json!({}), "$: missing required field `hypotheses`"),
            (
                json!({"hypotheses": []}),
                "$.hypotheses: has 0 items, needs at least 1",
            ),
            (
                json!({"hypotheses": [{"label":"a","kind":"token"},{"label":"b","kind":"token"},{"label":"c","kind":"token"}]}),
                "$.hypotheses: has 3 items, allows at most 2",
            ),
            (
                json!({"hypotheses": [{"label": 3, "kind": "token"}]}),
                "$.hypotheses[0].label: expected string, found number",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "vibe"}]}),
                "$.hypotheses[0].kind: \"vibe\" is not one of [\"token\",\"context\"]",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "token", "strength": 11}]}),
                "$.hypotheses[0].strength: 11 is above the maximum 10",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "token", "strength": -1}]}),
                "$.hypotheses[0].strength: -1 is below the minimum 0",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "token", "rank": 1.5}]}),
                "$.hypotheses[0].rank: expected integer, found number",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "token", "extra": 1}]}),
                "$.hypotheses[0]: unexpected field `extra`",
            ),
            (
                json!({"hypotheses": [{"label": "a", "kind": "token", "negated": "no"}]}),
                "$.hypotheses[0].negated: expected boolean, found string",
            ),
        ];
        for (value, expected) in cases {
            let got = validate(&value, &s).unwrap_err();
            assert_eq!(got, expected, "for {value}");
        }
    }

    #[test]
    fn strict_compatibility_requires_closed_fully_required_objects() {
        assert!(!is_strict_compatible(&hypotheses_schema()));
        let strict = json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}}},
            "required": ["items"],
            "additionalProperties": false
        });
        assert!(is_strict_compatible(&strict));
    }

    #[test]
    fn extracts_json_from_plain_fenced_and_chatty_text() {
        assert_eq!(extract_json(" {\"a\": 1} "), Ok(json!({"a": 1})));
        assert_eq!(
            extract_json("Here you go:\n```json\n{\"a\": [1, 2]}\n```\nThanks"),
            Ok(json!({"a": [1, 2]}))
        );
        assert_eq!(
            extract_json("Sure! {\"s\": \"a } brace\", \"n\": {\"m\": 2}} trailing {"),
            Ok(json!({"s": "a } brace", "n": {"m": 2}}))
        );
        assert_eq!(
            extract_json("list: [1, {\"b\": 2}] done"),
            Ok(json!([1, {"b": 2}]))
        );
        assert!(extract_json("no json here {oops").is_err());
    }

    #[test]
    fn words_like_error_in_a_valid_reply_are_just_text() {
        let schema = json!({"type": "object", "properties": {"verdict": {"type": "string"}}, "required": ["verdict"]});
        let value = extract_json("{\"verdict\": \"failed error\"}").expect("valid JSON");
        assert_eq!(validate(&value, &schema), Ok(()));
        assert_eq!(value["verdict"], "failed error");
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z{}\\[\\]\"` ]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_object_or_array_is_found_inside_chatter(
            value in json_value(),
            before in "[A-Za-z ,.:!]{0,20}",
            after in "[A-Za-z ,.:!{\\[]{0,20}",
        ) {
            let value = if value.is_object() || value.is_array() { value } else { json!([value]) };
            let text = format!("{before}{value}{after}");
            proptest::prop_assert_eq!(extract_json(&text), Ok(value));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
            let _ = extract_json(&text);
        }
    }
}
