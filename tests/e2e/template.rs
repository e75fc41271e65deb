//! template.yaml grants what the code needs and nothing more.
use std::collections::BTreeSet;

/// The DynamoDB calls of the crm library, as text: SDK operations and transaction parts.
fn crm_source() -> anyhow::Result<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/crm/src");
    let mut text = String::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(path)?);
            }
        }
    }
    Ok(text)
}

#[test]
fn template_yaml_grants_no_dynamodb_action_the_code_never_calls() -> anyhow::Result<()> {
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(tsunagu_local::stack::TEMPLATE)?;
    let mut granted = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        for policy in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                for action in statement["Action"].as_sequence().into_iter().flatten() {
                    if let Some(a) = action.as_str().and_then(|a| a.strip_prefix("dynamodb:")) {
                        granted.insert(a.to_owned());
                    }
                }
            }
        }
    }
    assert!(granted.contains("Query"), "policies were read: {granted:?}");
    let source = crm_source()?;
    // How each action shows in code: its SDK call, or its part of a transaction.
    let called = |action: &str| -> bool {
        let calls: &[&str] = match action {
            "GetItem" => &[".get_item()"],
            "PutItem" => &[".put_item()", "Put::builder()"],
            "UpdateItem" => &[".update_item()", "Update::builder()"],
            "DeleteItem" => &[".delete_item()", "Delete::builder()"],
            "Query" => &[".query()"],
            "BatchGetItem" => &[".batch_get_item()"],
            "BatchWriteItem" => &[".batch_write_item()"],
            "ConditionCheckItem" => &["ConditionCheck::builder()"],
            "Scan" => &[".scan()"],
            _ => &[],
        };
        calls.iter().any(|c| source.contains(c))
    };
    let unused: Vec<&String> = granted.iter().filter(|a| !called(a)).collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
    Ok(())
}

#[test]
fn template_yaml_routes_to_survey_tagging_exactly_what_the_code_does() -> anyhow::Result<()> {
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(tsunagu_local::stack::TEMPLATE)?;
    let pattern = &template["Resources"]["SurveyTaggingFunction"]["Properties"]["Events"]["DomainEvents"]
        ["Properties"]["Pattern"];
    let listed: BTreeSet<String> = pattern["detail-type"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let routed: BTreeSet<String> = crm::bus::SURVEY_TAGGING_EVENTS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(listed, routed);
    assert_eq!(pattern["source"][0].as_str(), Some(crm::bus::SOURCE));
    Ok(())
}
