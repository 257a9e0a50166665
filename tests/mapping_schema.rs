//! Every mapping file validates against the published JSON Schema of the mapping format
//! (`schemas/mapping.schema.json`, for editors), and the schema agrees with the compiler.

use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/mapping.schema.json"
    ))
    .expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn seed_mappings_validate_against_the_schema() {
    let v = schema();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("mappings dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let node = ordergate::yaml::parse(&path.display().to_string(), &text).expect("parses");
        let doc = serde_json::Value::from(node.to_json());
        let errors: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn the_schema_refuses_what_the_compiler_refuses() {
    let v = schema();
    let bad = [
        "vendor: x\nbogus: 1\noperations: {}\n",
        "vendor: x\noperations:\n  get_order:\n    steps:\n      - request: { method: GET, path: /x, encoding: yaml }\n    result: {}\n",
        "vendor: x\noperations:\n  get_order:\n    retries: 3\n    steps: []\n    result: {}\n",
    ];
    for text in bad {
        let node = ordergate::yaml::parse("t.yaml", text).expect("parses");
        assert!(
            ordergate::engine::compile::compile(&node).is_err(),
            "the compiler accepts:\n{text}"
        );
        assert!(
            !v.is_valid(&serde_json::Value::from(node.to_json())),
            "the schema accepts:\n{text}"
        );
    }
}
