use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::diagnostic::Diagnostic;
use crate::mapping::syntax::Direction;
use crate::mapping::test_support::route_text;
use crate::mapping::{ContextDecl, check, load_route_file, parse_route_yaml};
use crate::schema::Shape;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn schema_shape(name: &str) -> Shape {
    let read = |n: &str| -> Option<Arc<Value>> {
        let text = std::fs::read_to_string(repo("schemas").join(n)).ok()?;
        serde_json::from_str(&text).ok().map(Arc::new)
    };
    let doc = read(name).unwrap();
    Shape::build(name, &doc, &read).unwrap()
}

fn shape(doc: Value) -> Shape {
    Shape::build("t.schema.json", &doc, &|_| None).unwrap()
}

fn render(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(ToString::to_string).collect()
}

/// Checks the route file `yaml` (its one section of `direction`) against the two
/// shapes, rendered.
fn check_yaml(yaml: &str, direction: Direction, source: &Shape, target: &Shape) -> Vec<String> {
    let file = std::path::Path::new("t.yaml");
    let route = crate::mapping::parse_route_yaml(yaml, file).unwrap();
    render(&crate::mapping::check(
        &route,
        direction,
        file,
        source,
        target,
        &ContextDecl::default(),
    ))
}

fn shipped(route: &str, direction: Direction, params: &[&str]) -> Vec<String> {
    let file = repo(route);
    let r = load_route_file(&file).unwrap();
    let spec = r.direction(direction).unwrap();
    let source = schema_shape(&spec.schema);
    let target = schema_shape(&spec.target);
    let ctx = ContextDecl {
        path_params: params.iter().map(|p| (*p).to_owned()).collect(),
        has_request: direction == Direction::Response && r.request.is_some(),
        request_shape: r.request.as_ref().map(|d| schema_shape(&d.schema)),
    };
    render(&check(
        &r,
        direction,
        Path::new(route),
        &source,
        &target,
        &ctx,
    ))
}

#[test]
fn shipped_route_files_check_clean() {
    for (route, direction, params) in [
        ("mappings/acme/orders.yaml", Direction::Request, &[][..]),
        ("mappings/acme/orders.yaml", Direction::Response, &[]),
        ("mappings/globex/orders.yaml", Direction::Request, &[]),
        ("mappings/globex/orders.yaml", Direction::Response, &[]),
        (
            "mappings/globex/order-status.yaml",
            Direction::Response,
            &["orderId"],
        ),
    ] {
        assert_eq!(
            shipped(route, direction, params),
            Vec::<String>::new(),
            "{route} {direction:?}"
        );
    }
}

fn source_schema() -> Shape {
    shape(json!({
        "type": "object",
        "required": ["Order"],
        "properties": {"Order": {
            "type": "object",
            "required": ["@id", "Priority", "Items"],
            "properties": {
                "@id": {"type": "string"},
                "Priority": {"enum": ["standard", "express", "overnight"]},
                "Note": {"type": "string"},
                "Customer": {"type": "object", "properties": {"Email": {"type": "string"}}},
                "Odd": {"type": "string", "not": {"const": ""}},
                "Items": {"type": "array", "items": {
                    "type": "object", "required": ["Qty"],
                    "properties": {"Qty": {"type": "string", "pattern": "^[0-9]+$"}}
                }}
            }
        }}
    }))
}

fn target_schema() -> Shape {
    shape(json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "speed"],
        "properties": {
            "id": {"type": "string"},
            "speed": {"enum": ["STANDARD", "EXPRESS"]},
            "count": {"type": "integer"},
            "note": {"type": "string"},
            "lines": {"type": "array", "items": {
                "type": "object", "properties": {"qty": {"type": "integer"}}
            }},
            "open": {"type": "object", "properties": {"x": {"type": "string"}}}
        }
    }))
}

/// Checks the request direction of a whole route file against the two small schemas
/// above, every finding rendered.
fn check_text(text: &str, ctx: &ContextDecl) -> Vec<String> {
    let route = parse_route_yaml(text, Path::new("t.yaml")).unwrap();
    render(&check(
        &route,
        Direction::Request,
        Path::new("t.yaml"),
        &source_schema(),
        &target_schema(),
        ctx,
    ))
}

/// Checks a request map against the two small schemas above, without the unread-source
/// warning.
fn diags(map: &str) -> Vec<String> {
    let ctx = ContextDecl {
        path_params: vec!["id".to_owned()],
        has_request: false,
        request_shape: None,
    };
    check_text(&route_text(map), &ctx)
        .into_iter()
        .filter(|d| !d.contains(": no rule of the"))
        .collect()
}

const OK_BASE: &str = "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD, express: EXPRESS, overnight: EXPRESS } }\n";

#[test]
fn a_correct_map_has_no_findings() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}lines:\n  each: /Order/Items\n  map:\n    qty: {{ from: Qty, as: integer }}"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn source_paths_must_exist() {
    assert_eq!(
        diags(&format!("{OK_BASE}note: /Order/Nope")),
        vec![
            "t.yaml:9:5: error: source path `/Order/Nope` does not exist in the source schema: no `Nope` at `/Order`\n  --> at t.schema.json#/properties/Order\n  = hint: did you mean `Note`? known here: @id, Priority, Note, Customer, Odd, Items"
        ]
    );
}

#[test]
fn target_properties_must_exist_when_additional_properties_are_forbidden() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}colour: /Order/Note\nopen:\n  y: /Order/Note"
        )),
        vec![
            "t.yaml:9:5: error: target `/colour` is not a property of the target schema (additionalProperties: false)\n  --> at t.schema.json#\n  = hint: known properties: id, speed, count, note, lines, open",
            "t.yaml:11:7: warning: target `/open/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/open\n  = hint: known properties: x",
        ]
    );
}

#[test]
fn types_must_flow() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}count: /Order/Customer\nnote: {{ from: /Order/@id, as: integer }}\nlines:\n  each: /Order/Items\n  map:\n    qty: Qty"
        )),
        vec![
            "t.yaml:9:5: error: `/count` expects integer, but the rule produces object (source `/Order/Customer` at t.schema.json#/properties/Order/properties/Customer)\n  --> at t.schema.json#/properties/count",
            "t.yaml:10:5: error: `/note` expects string, but the rule produces integer (source `/Order/@id` at t.schema.json#/properties/Order/properties/@id)\n  --> at t.schema.json#/properties/note\n  = hint: convert with `as: string` (add `scale` for fixed decimals)",
            "t.yaml:14:9: error: `/lines/*/qty` expects integer, but the rule produces string (source `Qty` at t.schema.json#/properties/Order/properties/Items/items/properties/Qty)\n  --> at t.schema.json#/properties/lines/items/properties/qty\n  = hint: convert with `as: integer`",
        ]
    );
}

#[test]
fn null_constants_fit_targets_that_allow_null() {
    let source = shape(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    let target = shape(json!({"type": "object", "properties": {
        "n1": {"type": ["string", "null"]}, "n2": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "s": {"type": "string"}}}));
    let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  ignore: [/a]\n  map:\n    n1: { const: null }\n    n2: { const: null }\n    s: { const: null }\n";
    assert_eq!(
        check_yaml(yaml, Direction::Request, &source, &target),
        vec!["t.yaml:10:5: error: `/s` expects string, but the rule produces null\n  --> at t.schema.json#/properties/s\n  = hint: allow null in the target schema (`type: [..., \"null\"]`), or write a value".to_string()]
    );
}

#[test]
fn constants_and_lookups_must_fit_the_target_enum() {
    assert_eq!(
        diags("id: /Order/@id\nspeed: { const: FAST }"),
        vec![
            "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"FAST\"\n  --> at t.schema.json#/properties/speed\n  = hint: the constant is not a value the target allows: write one of \"STANDARD\", \"EXPRESS\""
        ]
    );
    assert_eq!(
        diags(
            "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD, express: EXPRESS } }"
        ),
        vec![
            "t.yaml:8:5: error: lookup has no entry for source value \"overnight\"\n  --> at /speed\n  = hint: add the entries or a `fallback`"
        ]
    );
    assert_eq!(
        diags(
            "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD }, fallback: EXPRESS }"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        diags("id: /Order/@id\nspeed: { from: /Order/Priority, apply: [uppercase] }"),
        vec![
            "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"OVERNIGHT\"\n  --> at t.schema.json#/properties/speed\n  = hint: map the values with `lookup`"
        ]
    );
}

#[test]
fn required_targets_must_be_produced_unconditionally() {
    assert_eq!(
        diags("speed: { const: EXPRESS, when: { exists: /Order/Note } }"),
        vec![
            "t.yaml:6:3: error: required target property `/id` is not produced\n  --> at t.schema.json#\n  = hint: add a rule for it, or a `default`",
            "t.yaml:7:5: warning: required target property `/speed` may be omitted: the rule has a `when` condition\n  --> at /speed\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input",
        ]
    );
    assert_eq!(
        diags("id: /Order/Note\nspeed: { const: EXPRESS }"),
        vec![
            "t.yaml:7:5: error[optional-into-required]: required target property `/id` may be omitted: its source `/Order/Note` is optional and `on_missing` is omit\n  --> at /id\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input; or map it inside an optional target object that is left out with its source"
        ]
    );
    assert_eq!(
        diags("id: { from: /Order/Note, default: none }\nspeed: { const: EXPRESS }"),
        Vec::<String>::new()
    );
}

#[test]
fn context_sources_must_be_declared() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}note: $path.orderId\ncount: {{ from: $request/Order/n, as: integer }}\nopen:\n  x: $query.sort"
        )),
        vec![
            "t.yaml:9:5: error: `$path.orderId`: the route path `/p/{id}` has no parameter `{orderId}`\n  --> at /note\n  = hint: path parameters of this route: id",
            "t.yaml:10:5: error: `$request/Order/n` reads the original request, which only response and error mappings of routes with a request body have\n  --> at /count\n  = hint: read the value from the upstream answer or from $path/$query/$header instead",
            "t.yaml:12:7: error: `$query.sort` is not declared by the route\n  --> at /open/x\n  = hint: add `sort` to `route.query`",
        ]
    );
    assert_eq!(
        diags(&format!(
            "{OK_BASE}note: $path.id\nopen:\n  x: $header.x-tenant"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn conversions_of_known_values_are_proven() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}count: {{ from: /Order/Priority, as: integer }}"
        )),
        vec![
            "t.yaml:9:5: error: `as: integer` fails on source values \"standard\", \"express\", \"overnight\"\n  --> at /count\n  = hint: map those values with `lookup` first"
        ]
    );
    assert_eq!(
        diags(&format!(
            "{OK_BASE}count: {{ from: /Order/Priority, lookup: {{ standard: \"1\", express: \"2\", overnight: \"3\" }}, as: integer }}"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn an_xml_answer_cannot_hold_arrays_of_arrays() {
    let source = shape(json!({"type": "object", "properties": {
        "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}));
    let target = shape(
        json!({"type": "object", "properties": {"R": {"type": "object", "properties": {
        "Row": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}}}),
    );
    let run = |format: &str| {
        let yaml = format!(
            "route: {{ method: GET, path: /t, format: {format} }}\nupstream: {{ service: s, path: /t }}\nresponse:\n  schema: s.json\n  target: t.json\n  map:\n    R.Row: /rows\n"
        );
        check_yaml(&yaml, Direction::Response, &source, &target)
    };
    assert_eq!(
        run("xml"),
        vec!["t.yaml: error: an array whose items are arrays has no XML form; the partner's answer cannot be written\n  --> at t.schema.json#/properties/R/properties/Row/items\n  = hint: wrap each inner array in an object: `items: {type: object, properties: {Entry: {type: array, ...}}}`".to_string()]
    );
    assert_eq!(run("json"), Vec::<String>::new());
}

#[test]
fn sources_read_into_undescribed_targets_count_as_read() {
    let source = shape(json!({"type": "object", "properties": {
        "arr": {"type": ["array", "null"], "items": {"type": "string"}},
        "p": {"type": "string"}, "q": {"type": "string"}}}));
    let target = shape(json!({"type": "object", "properties": {
        "list": {}, "free": {},
        "typed": {"type": "object", "properties": {"y": {"type": "string"}}}}}));
    let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n    list: { each: /arr, item: . }\n    free:\n      y: /p\n    typed:\n      y: /q\n";
    assert_eq!(
        check_yaml(yaml, Direction::Request, &source, &target),
        vec![
            "t.yaml:7:5: warning: the target schema does not describe the items of `/list`, so they are not checked\n  --> at t.schema.json#/properties/list".to_string(),
            "t.yaml:9:7: warning: target `/free/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/free\n  = hint: the target schema names no properties here".to_string(),
        ]
    );
    // What such rules read is still checked: a path the source does not have, `each`
    // over a string.
    let wrong = yaml
        .replace("y: /p\n", "y: /typo\n")
        .replace("each: /arr", "each: /q");
    assert_eq!(
        check_yaml(&wrong, Direction::Request, &source, &target),
        vec![
            "t.yaml:7:5: warning: the target schema does not describe the items of `/list`, so they are not checked\n  --> at t.schema.json#/properties/list",
            "t.yaml:7:5: error: `each: /q` is not an array in the source schema (string)\n  --> at t.schema.json#/properties/q",
            "t.yaml:9:7: error: source path `/typo` does not exist in the source schema: no `typo` at `/`\n  --> at t.schema.json#\n  = hint: known here: arr, p, q",
            "t.yaml:9:7: warning: target `/free/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/free\n  = hint: the target schema names no properties here",
            "t.yaml:6:3: warning: no rule of the request mapping reads source properties `/arr/*`, `/p`\n  --> at t.schema.json#\n  = hint: map them, or list them under `ignore:` if dropping them is intended",
        ]
    );
}

#[test]
fn a_nested_map_must_fit_one_alternative_of_a_union_target() {
    let source = shape(json!({
        "type": "object",
        "properties": {"Doc": {"type": "object", "required": ["@id", "Qty"], "properties": {
            "@id": {"type": "string"}, "Qty": {"type": "integer"}}}}
    }));
    let target = shape(json!({
        "type": "object",
        "properties": {"v": {"oneOf": [
            {"type": "object", "required": ["kind", "x"], "additionalProperties": false,
             "properties": {"kind": {"const": "X"}, "x": {"type": "string"}}},
            {"type": "object", "required": ["kind", "y"], "additionalProperties": false,
             "properties": {"kind": {"const": "Y"}, "y": {"type": "integer"}}}]}}
    }));
    let run = |map: &str| {
        let yaml = format!(
            "route: {{ method: POST, path: /t, format: json }}\nupstream: {{ service: s, path: /t }}\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n{map}"
        );
        check_yaml(&yaml, Direction::Request, &source, &target)
    };
    let union_error = |alt1: &str, alt2: &str| {
        format!(
            "t.yaml:7:5: error: the nested map `/v` fits none of the alternatives (`anyOf`/`oneOf`) of its target: alternative 1 (t.schema.json#/properties/v/oneOf/0): {alt1}; alternative 2 (t.schema.json#/properties/v/oneOf/1): {alt2}\n  --> at t.schema.json#/properties/v\n  = hint: produce exactly the properties one alternative allows and requires"
        )
    };
    assert_eq!(
        run("    v:\n      kind: { const: X }\n      y: /Doc/Qty\n      x: /Doc/@id\n"),
        vec![union_error(
            "`y` is not one of its properties",
            "`x` is not one of its properties"
        )]
    );
    // A constant outside an alternative's enum rules it out.
    assert_eq!(
        run("    v:\n      kind: { const: \"Y\" }\n      x: /Doc/@id\n")
            .into_iter()
            .take(1)
            .collect::<Vec<_>>(),
        vec![union_error(
            "`kind` must be one of \"X\", not \"Y\"",
            "`x` is not one of its properties"
        )]
    );
    // Fitting one alternative is enough, and its rules are the ones checked: `kind`
    // may be "Y" in the second alternative, whatever the first one says.
    let errors = |map: &str| -> Vec<String> {
        run(map)
            .into_iter()
            .filter(|d| d.contains(": error:"))
            .collect()
    };
    assert_eq!(
        errors("    v:\n      kind: { const: X }\n      x: /Doc/@id\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        errors("    v:\n      kind: { const: \"Y\" }\n      y: /Doc/Qty\n"),
        Vec::<String>::new()
    );
}

#[test]
fn whole_objects_copied_must_fit_member_by_member() {
    let source = shape(json!({
        "type": "object",
        "properties": {"Customer": {"type": "object", "required": ["Name"], "properties": {
            "Name": {"type": "string"}, "Tier": {"type": "string"}, "Age": {"type": "integer"}}}}
    }));
    let target = shape(json!({
        "type": "object",
        "properties": {"customer": {"type": "object", "additionalProperties": false, "required": ["name", "Age"],
            "properties": {"name": {"type": "string"}, "Age": {"type": "string"}}}}
    }));
    let same = shape(json!({
        "type": "object",
        "properties": {"customer": {"type": "object", "properties": {
            "Name": {"type": "string"}, "Tier": {"type": "string"}, "Age": {"type": "number"}}}}
    }));
    let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n    customer: /Customer\n";
    assert_eq!(
        check_yaml(yaml, Direction::Request, &source, &target),
        vec!["t.yaml:7:5: error: `/customer` copies a whole object (source `/Customer` at t.schema.json#/properties/Customer) whose shape does not fit the target: required member `name` is not in the source (the source has `Name`); required member `Age` may be missing in the source; member `Name` is not allowed by the target; member `Tier` is not allowed by the target; at `/Age`: expects string, the source has integer\n  --> at t.schema.json#/properties/customer\n  = hint: map its members one by one (a nested map), renaming and converting as the target needs".to_string()]
    );
    let fine = check_yaml(yaml, Direction::Request, &source, &same);
    assert_eq!(fine, Vec::<String>::new());
}

#[test]
fn each_needs_arrays_on_both_sides() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}lines:\n  each: /Order/Customer\n  map: {{}}\nnote:\n  each: /Order/Items\n  item: Qty"
        )),
        vec![
            "t.yaml:9:5: error: `each: /Order/Customer` is not an array in the source schema (object)\n  --> at t.schema.json#/properties/Order/properties/Customer",
            "t.yaml:12:5: error: `each` produces an array, but `/note` is string\n  --> at t.schema.json#/properties/note",
        ]
    );
}

#[test]
fn unread_source_properties_are_warnings() {
    let text = route_text(&format!("{OK_BASE}note: /Order/Odd"));
    assert_eq!(
        check_text(&text, &ContextDecl::default()),
        vec![
            "t.yaml:6:3: warning: no rule of the request mapping reads source properties `/Order/Note`, `/Order/Customer/Email`, `/Order/Items/*/Qty`\n  --> at t.schema.json#\n  = hint: map them, or list them under `ignore:` if dropping them is intended",
        ]
    );
}

#[test]
fn ignored_paths_silence_the_unread_warning_and_must_exist() {
    let text = route_text(&format!("{OK_BASE}note: /Order/Odd")).replace(
        "  map:\n",
        "  ignore: [/Order/Note, /Order/Items/*/Qty, /Order/Customer, /Order/Nope, $path.id]\n  map:\n",
    );
    assert_eq!(
        check_text(&text, &ContextDecl::default()),
        vec![
            "t.yaml:7:3: error: ignored path `/Order/Nope` does not exist in the source schema: no `Nope` at `/Order` (did you mean `Note`?)\n  --> at request.ignore\n  = hint: list source document paths such as `/Order/Notes`",
            "t.yaml:7:3: error: ignored path `$path.id` does not exist in the source schema: only source document paths (starting with `/`) can be ignored\n  --> at request.ignore\n  = hint: list source document paths such as `/Order/Notes`",
        ]
    );
}

/// Checks a request map between two given schemas, without the unread-source warning.
fn diags_between(source: Value, target: Value, map: &str) -> Vec<String> {
    let route = parse_route_yaml(&route_text(map), Path::new("t.yaml")).unwrap();
    let ctx = ContextDecl {
        path_params: vec!["id".to_owned()],
        has_request: false,
        request_shape: None,
    };
    render(&check(
        &route,
        Direction::Request,
        Path::new("t.yaml"),
        &shape(source),
        &shape(target),
        &ctx,
    ))
    .into_iter()
    .filter(|d| !d.contains(": no rule of the"))
    .collect()
}

#[test]
fn comparisons_the_source_type_can_never_meet_are_warnings() {
    let source = json!({"type": "object", "properties": {
        "answer": {"type": "string"},
        "flag": {"type": "boolean"},
        "n": {"type": ["integer", "null"]}
    }});
    let target = json!({"type": "object", "properties": {
        "a": {"type": "boolean"}, "b": {"type": "boolean"}, "c": {"type": "boolean"},
        "d": {"type": "boolean"}
    }});
    assert_eq!(
        diags_between(
            source,
            target,
            "a: { const: true, when: { path: /answer, equals: false } }\n\
             b: { const: true, when: { any: [{ path: /flag, in: [true, \"yes\"] }, { not: { path: /answer, not_equals: null } }] } }\n\
             c: { const: true, when: { all: [{ path: /n, equals: null }, { path: /n, not_equals: 1 }, { path: /answer, in: [\"no\", \"off\"] }] } }"
        ),
        [
            "t.yaml:7:5: warning: `when` of `/a`: `/answer` is string by the source schema, so `equals` with false (boolean) never holds\n  --> at /a\n  = hint: to compare with the text, quote it: `equals: \"false\"`",
            "t.yaml:8:5: warning: `when.any[0]` of `/b`: `/flag` is boolean by the source schema, so `in` with \"yes\" (string) never holds\n  --> at /b",
            "t.yaml:8:5: warning: `when.any[1].not` of `/b`: `/answer` is string by the source schema, so `not_equals` with null (null) always holds\n  --> at /b\n  = hint: to compare with the text, quote it: `not_equals: \"null\"`",
        ]
    );
    assert_eq!(
        diags_between(
            json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}}}}}}),
            json!({"type": "object", "properties": {"e": {"type": "array", "items": {"type": "integer"}}}}),
            "e: { each: /items, filter: { any: [{ path: $position, equals: 1 }, { path: q, equals: \"1\" }] }, item: { from: q } }"
        ),
        [
            "t.yaml:7:5: warning: `filter.any[1]` of `/e`: `q` is integer by the source schema, so `equals` with \"1\" (string) never holds\n  --> at /e",
        ]
    );
}

#[test]
fn a_rule_where_the_target_has_properties_named_like_its_keywords_gets_a_hint() {
    let source = json!({"type": "object", "properties": {"Leg": {"type": "object", "properties": {
        "Origin": {"type": "string"}, "Days": {"type": "array", "items": {"type": "string"}}
    }}}});
    let target = json!({"type": "object", "properties": {
        "leg": {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}},
        "plan": {"type": "object", "properties": {"each": {"type": "string"}, "item": {"type": "string"}}},
        "other": {"type": "object", "properties": {"x": {"type": "string"}}}
    }});
    assert_eq!(
        diags_between(
            source,
            target,
            "leg: { from: /Leg/Origin }\nplan: { each: /Leg/Days, item: . }\nother: { from: /Leg/Origin }"
        ),
        [
            "t.yaml:7:5: error: `/leg` expects object, but the rule produces string (source `/Leg/Origin` at t.schema.json#/properties/Leg/properties/Origin)\n  --> at t.schema.json#/properties/leg\n  = hint: the target object has properties spelled like this rule's keywords; an object whose first key is a rule keyword is a rule: to write the target properties, write `\\from`",
            "t.yaml:8:5: error: `each` produces an array, but `/plan` is object\n  --> at t.schema.json#/properties/plan\n  = hint: the target object has properties spelled like this rule's keywords; an object whose first key is a rule keyword is a rule: to write the target properties, write `\\each`, `\\item`",
            "t.yaml:9:5: error: `/other` expects object, but the rule produces string (source `/Leg/Origin` at t.schema.json#/properties/Leg/properties/Origin)\n  --> at t.schema.json#/properties/other",
        ]
    );
}

/// Checks a request map between a source schema named `s.schema.json` and a target named
/// `t.schema.json`, without the unread-source warning.
fn diags_named(source: Value, target: Value, map: &str) -> Vec<String> {
    let route = parse_route_yaml(&route_text(map), Path::new("t.yaml")).unwrap();
    let source = Shape::build("s.schema.json", &source, &|_| None).unwrap();
    render(&check(
        &route,
        Direction::Request,
        Path::new("t.yaml"),
        &source,
        &shape(target),
        &ContextDecl {
            path_params: vec!["id".to_owned()],
            has_request: false,
            request_shape: None,
        },
    ))
    .into_iter()
    .filter(|d| !d.contains(": no rule of the"))
    .collect()
}

const MEMBER_ERROR_HINT: &str = "give the rule a `default`, or `on_missing: error` to reject such input; or map it inside an optional target object that is left out with its source";

#[test]
fn a_required_member_of_an_object_left_out_with_its_source_is_never_missing() {
    let source = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"},
        "Customer": {"type": "object", "required": ["Email"], "properties": {
            "Email": {"type": "string"}, "Name": {"type": "string"}}}}});
    let target = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"},
        "customer": {"type": "object", "required": ["email"], "properties": {
            "email": {"type": "string"}, "name": {"type": "string"}}}}});
    // Every member reads below `/Customer`: without it no member is written and neither
    // is the object; with it, `Email` is there.
    assert_eq!(
        diags_between(
            source.clone(),
            target.clone(),
            "id: /id\ncustomer:\n  email: /Customer/Email\n  name: /Customer/Name"
        ),
        Vec::<String>::new()
    );
    // A member that is written without `/Customer` keeps the object: `email` may then be
    // missing from it.
    let missing_email = format!(
        "t.yaml:9:7: error[optional-into-required]: required target property `/customer/email` may be omitted: its source `/Customer/Email` is optional and `on_missing` is omit\n  --> at /customer/email\n  = hint: {MEMBER_ERROR_HINT}"
    );
    for other in [
        "{ const: x }",
        "/id",
        "{ from: /Customer/Name, default: x }",
    ] {
        assert_eq!(
            diags_between(
                source.clone(),
                target.clone(),
                &format!("id: /id\ncustomer:\n  email: /Customer/Email\n  name: {other}")
            ),
            vec![missing_email.clone()],
            "{other}"
        );
    }
    // `Email` optional inside `Customer`: present `Customer`, absent `Email`.
    let optional_email = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"},
        "Customer": {"type": "object", "properties": {
            "Email": {"type": "string"}, "Name": {"type": "string"}}}}});
    assert_eq!(
        diags_between(
            optional_email,
            target,
            "id: /id\ncustomer:\n  email: /Customer/Email\n  name: /Customer/Name"
        ),
        vec![missing_email]
    );
    // A required object is judged where it is a member: it may be left out as a whole.
    let required_customer = json!({"type": "object", "required": ["customer"], "properties": {
        "customer": {"type": "object", "required": ["email"], "properties": {
            "email": {"type": "string"}}}}});
    assert_eq!(
        diags_between(
            source,
            required_customer,
            "customer:\n  email: /Customer/Email"
        ),
        vec![format!(
            "t.yaml:7:5: error[optional-into-required]: required target property `/customer` may be omitted: every member of this object may be omitted\n  --> at /customer\n  = hint: {MEMBER_ERROR_HINT}"
        )]
    );
}

#[test]
fn only_an_absence_a_schema_states_is_an_error() {
    // `free` holds any members (a call answer without a schema): nothing states that
    // `/free/x` may be absent, as nothing states a query parameter, a header or a claim
    // may be. Those stay warnings; `/named`, which the schema names and does not
    // require, is the error.
    let source = json!({"type": "object", "required": ["free"], "properties": {
        "free": {"additionalProperties": {"type": "string"}},
        "named": {"type": "string"}}});
    let target = json!({"type": "object", "required": ["a", "b", "c", "d", "e"], "properties": {
        "a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"},
        "d": {"type": "string"}, "e": {"type": "string"}}});
    let warning = |line: u32, target: &str, why: &str| {
        format!(
            "t.yaml:{line}:5: warning: required target property `/{target}` may be omitted: {why}\n  --> at /{target}\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input"
        )
    };
    assert_eq!(
        diags_between(
            source,
            target,
            "a: /free/x\nb: $query.page\nc: $header.x-tenant\nd: { template: \"{$query.page}-{/free/y}\" }\ne: /named"
        ),
        vec![
            warning(7, "a", "its source `/free/x` is optional and `on_missing` is omit"),
            warning(8, "b", "its source `$query.page` is optional and `on_missing` is omit"),
            warning(9, "c", "its source `$header.x-tenant` is optional and `on_missing` is omit"),
            warning(10, "d", "its placeholder `$query.page` may be missing or null and `on_missing` is omit"),
            "t.yaml:11:5: error[optional-into-required]: required target property `/e` may be omitted: its source `/named` is optional and `on_missing` is omit\n  --> at /e\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input; or map it inside an optional target object that is left out with its source".to_string(),
        ]
    );
}

#[test]
fn a_required_target_left_out_on_purpose_stays_a_warning() {
    let source = json!({"type": "object", "required": ["n"], "properties": {
        "n": {"type": ["string", "null"]}, "o": {"type": "string"}}});
    let target = json!({"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "string"}, "b": {"type": "string"}}});
    assert_eq!(
        diags_between(
            source.clone(),
            target.clone(),
            "a: { from: /n, on_null: omit }\nb: { from: /o, on_missing: error }"
        ),
        vec![
            "t.yaml:7:5: warning: required target property `/a` may be omitted: its source `/n` may be null and `on_null` is omit\n  --> at /a\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input"
        ]
    );
    assert_eq!(
        diags_between(
            source,
            target,
            "a: { from: /o, on_missing: null }\nb: { template: \"{/o}-{/n}\", default: \"-\" }"
        ),
        vec![
            "t.yaml:7:5: error: `on_missing: null` writes null, which `/a` does not allow\n  --> at /a\n  = hint: use `default` or `on_missing: omit`"
        ]
    );
}

#[test]
fn lookups_covering_every_boolean_or_enum_value_are_proven() {
    let source = json!({"type": "object", "required": ["flag", "kind", "level"], "properties": {
        "flag": {"type": "boolean"},
        "kind": {"oneOf": [{"const": "red"}, {"const": "green"}]},
        "level": {"enum": ["low", "high", null]}}});
    let target = json!({"type": "object", "properties": {
        "f": {"enum": ["Y", "N"]}, "k": {"enum": ["A", "B"]}, "l": {"enum": ["L", "H"]}}});
    assert_eq!(
        diags_between(
            source.clone(),
            target.clone(),
            "f: { from: /flag, lookup: { \"true\": Y, \"false\": N } }\n\
             k: { from: /kind, lookup: { red: A, green: B } }\n\
             l: { from: /level, on_null: omit, lookup: { low: L, high: H } }"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        diags_between(
            source,
            target,
            "f: { from: /flag, lookup: { \"true\": Y } }\nk: { from: /kind, lookup: { red: A, gren: B } }"
        ),
        vec![
            "t.yaml:7:5: error: lookup has no entry for source value false\n  --> at /f\n  = hint: add the entries or a `fallback`",
            "t.yaml:8:5: error: lookup has no entry for source value \"green\"\n  --> at /k\n  = hint: the key `gren` is no source value: did you mean `green`?; add the entries or a `fallback`",
        ]
    );
}

#[test]
fn unknown_names_get_the_closest_known_one() {
    assert_eq!(
        diags(&format!(
            "{OK_BASE}nte: /Order/Note\nnote: {{ form: /Order/Note }}\ncount: {{ from: $path.idd, as: integer }}\nopen:\n  x: $query.pag"
        )),
        vec![
            "t.yaml:9:5: error: target `/nte` is not a property of the target schema (additionalProperties: false)\n  --> at t.schema.json#\n  = hint: did you mean `note`? known properties: id, speed, count, note, lines, open",
            "t.yaml:10:5: error: `/note` is a nested map, but the target schema says string\n  --> at /note\n  = hint: `form` is not a rule keyword, so this object is read as target properties: did you mean `from`?",
            "t.yaml:11:5: error: `$path.idd`: the route path `/p/{id}` has no parameter `{idd}`\n  --> at /count\n  = hint: did you mean `$path.id`? path parameters of this route: id",
            "t.yaml:13:7: error: `$query.pag` is not declared by the route\n  --> at /open/x\n  = hint: did you mean `$query.page`? or add `pag` to `route.query`",
        ]
    );
}

#[test]
fn values_outside_a_target_enum_get_the_closest_allowed_one() {
    assert_eq!(
        diags("id: /Order/@id\nspeed: { const: EXPRES }"),
        vec![
            "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"EXPRES\"\n  --> at t.schema.json#/properties/speed\n  = hint: the constant is not a value the target allows: write one of \"STANDARD\", \"EXPRESS\" (did you mean \"EXPRESS\" for \"EXPRES\"?)"
        ]
    );
    assert_eq!(
        diags(
            "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDRD, express: EXPRESS, overnight: EXPRESS } }"
        ),
        vec![
            "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"STANDRD\"\n  --> at t.schema.json#/properties/speed\n  = hint: the lookup writes values the target does not allow: make each output one of \"STANDARD\", \"EXPRESS\" (did you mean \"STANDARD\" for \"STANDRD\"?)"
        ]
    );
    assert_eq!(
        diags(
            "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD, express: EXPRESS, overnigth: EXPRESS } }"
        ),
        vec![
            "t.yaml:8:5: error: lookup has no entry for source value \"overnight\"\n  --> at /speed\n  = hint: the key `overnigth` is no source value: did you mean `overnight`?; add the entries or a `fallback`"
        ]
    );
}

#[test]
fn type_errors_name_the_source_schema_location() {
    let source = json!({"type": "object", "required": ["flag", "Customer"], "properties": {
        "flag": {"type": "boolean"},
        "Customer": {"type": "object", "properties": {"Name": {"type": "string"}}}}});
    let target = json!({"type": "object", "properties": {
        "n": {"type": "integer"}, "c": {"type": "string"}}});
    assert_eq!(
        diags_named(
            source,
            target,
            "n: { from: /flag, as: integer }\nc: /Customer"
        ),
        vec![
            "t.yaml:7:5: error: `as: integer` cannot convert a boolean source (source `/flag` at s.schema.json#/properties/flag)\n  --> at /n",
            "t.yaml:8:5: error: `/c` expects string, but the rule produces object (source `/Customer` at s.schema.json#/properties/Customer)\n  --> at t.schema.json#/properties/c",
        ]
    );
}

#[test]
fn route_file_keys_misspelt_get_the_keyword_meant() {
    let parse = |text: &str| render(&parse_route_yaml(text, Path::new("t.yaml")).unwrap_err());
    assert_eq!(
        parse(&route_text("id: { from: /Order/@id, defualt: x }")),
        vec![
            "t.yaml:7:38: error: `defualt` is not a rule keyword, but this object is a rule because its first key `from` is one; to write a target property named `from`, write `\\from`; rule keywords: from, const, template, each, cases, map, item, filter, default, on_missing, on_null, on_empty, as, scale, rounding, apply, lookup, fallback, date, calc, when\n  = hint: did you mean `default`?"
        ]
    );
    assert_eq!(
        parse(&route_text("id: /x").replace("method: POST", "methd: POST")),
        vec![
            "t.yaml:1:10: error: unknown field `methd`, expected one of kind, method, path, format, namespace, response_media_type, headers, query, soap, soap_action, soap_fault_status\n  = hint: did you mean `method`?"
        ]
    );
}
