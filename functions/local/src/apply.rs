//! `tsunagu-local apply`: definitions kept in version control, PUT through the admin API.
//!
//! A file may hold several YAML documents (`---`), a folder is read whole (`*.yaml`, `*.yml`,
//! `*.json`, sorted, subfolders included). The kind of each document comes from its shape, as
//! the admin API's parsers refuse unknown keys: `steps` is a scenario, `questions` a survey,
//! `when` a tag rule, `match` an auto-reply, `tiers` (without `id`) the dormancy settings. A
//! `kind:` key (`scenario`, `survey`, `rule`, `autoReply`, `dormancy`) says it outright and is
//! removed before sending. Surveys and scenarios go first, the dormancy settings last, because
//! the settings may only name scenarios that exist.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Survey,
    Scenario,
    Rule,
    AutoReply,
    Dormancy,
}

impl Kind {
    /// The word on the command line (`apply scenario FILE`) or in a `kind:` key.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "survey" | "surveys" => Kind::Survey,
            "scenario" | "scenarios" => Kind::Scenario,
            "rule" | "rules" => Kind::Rule,
            "auto-reply" | "auto-replies" | "autoReply" => Kind::AutoReply,
            "dormancy" => Kind::Dormancy,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Survey => "survey",
            Kind::Scenario => "scenario",
            Kind::Rule => "rule",
            Kind::AutoReply => "auto-reply",
            Kind::Dormancy => "dormancy settings",
        }
    }

    /// What the document's own keys say it is.
    fn detect(doc: &Map<String, Value>) -> Option<Self> {
        if doc.contains_key("steps") {
            Some(Kind::Scenario)
        } else if doc.contains_key("questions") {
            Some(Kind::Survey)
        } else if doc.contains_key("when") {
            Some(Kind::Rule)
        } else if doc.contains_key("match") {
            Some(Kind::AutoReply)
        } else if doc.contains_key("tiers") && !doc.contains_key("id") {
            Some(Kind::Dormancy)
        } else {
            None
        }
    }

    fn path(self, id: &str) -> String {
        match self {
            Kind::Survey => format!("/admin/surveys/{id}"),
            Kind::Scenario => format!("/admin/scenarios/{id}"),
            Kind::Rule => format!("/admin/rules/{id}"),
            Kind::AutoReply => format!("/admin/auto-replies/{id}"),
            Kind::Dormancy => "/admin/dormancy".to_owned(),
        }
    }
}

/// One definition to PUT.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `file` or `file#n` (the nth document of a multi-document file).
    pub source: String,
    pub kind: Kind,
    /// Empty for the dormancy settings, which have no id.
    pub id: String,
    pub body: Value,
}

/// Reads every document under `paths` (files or folders), in the order they must be applied.
/// `expected`, from `apply scenario FILE`, makes any other kind an error.
pub fn collect(paths: &[PathBuf], expected: Option<Kind>) -> anyhow::Result<Vec<Document>> {
    let mut files = Vec::new();
    for path in paths {
        list_files(path, &mut files)?;
    }
    let mut docs = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        docs.extend(parse(&file.display().to_string(), &text, expected)?);
    }
    // Stable: within a kind, files and documents keep their order.
    docs.sort_by_key(|d| d.kind);
    Ok(docs)
}

fn list_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !path.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read the folder {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        let definition = entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if entry.is_dir() {
            list_files(&entry, out)?;
        } else if definition {
            out.push(entry);
        }
    }
    Ok(())
}

/// The documents of one file (YAML, so JSON too).
pub fn parse(source: &str, text: &str, expected: Option<Kind>) -> anyhow::Result<Vec<Document>> {
    let mut raw = Vec::new();
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        raw.push(Value::deserialize(de).with_context(|| format!("{source}: not valid YAML"))?);
    }
    // Comments-only documents (a leading or trailing `---`) carry nothing.
    raw.retain(|v| !v.is_null());
    let many = raw.len() > 1;
    let mut docs = Vec::new();
    for (n, value) in raw.into_iter().enumerate() {
        let source = if many {
            format!("{source}#{}", n + 1)
        } else {
            source.to_owned()
        };
        let Value::Object(mut map) = value else {
            anyhow::bail!(
                "{source}: a definition is a mapping (key: value), not a list or a value"
            );
        };
        let said = match map.remove("kind") {
            Some(Value::String(word)) => Some(Kind::from_word(&word).with_context(|| {
                format!(
                    "{source}: kind {word:?} is none of scenario, survey, rule, autoReply, dormancy"
                )
            })?),
            Some(other) => anyhow::bail!("{source}: kind must be a word, not {other}"),
            None => None,
        };
        let kind = said.or_else(|| Kind::detect(&map)).with_context(|| {
            format!(
                "{source}: cannot tell what this defines (a scenario has steps, a survey questions, \
                 a rule when, an auto-reply match, dormancy settings tiers); add `kind:`"
            )
        })?;
        if let Some(expected) = expected
            && expected != kind
        {
            anyhow::bail!("{source}: is a {}, not a {}", kind.name(), expected.name());
        }
        let id = match kind {
            Kind::Dormancy => String::new(),
            _ => match map.get("id") {
                Some(Value::String(id)) => id.clone(),
                _ => anyhow::bail!("{source}: no `id:` naming the {}", kind.name()),
            },
        };
        docs.push(Document {
            source,
            kind,
            id,
            body: Value::Object(map),
        });
    }
    Ok(docs)
}

/// PUTs each document; reports every refusal and fails if there was one.
pub async fn apply(docs: &[Document], url: &str, key: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let mut refused = 0;
    for doc in docs {
        // JSON for every kind: the admin API reads it everywhere (YAML only for definitions),
        // and the `kind:` key is gone from it.
        let res = http
            .put(format!(
                "{}{}",
                url.trim_end_matches('/'),
                doc.kind.path(&doc.id)
            ))
            .bearer_auth(key)
            .json(&doc.body)
            .send()
            .await
            .context("cannot reach the admin API; start the local stack with `make dev`")?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            refused += 1;
            println!(
                "{}: {} refused: {status} {}",
                doc.source,
                doc.kind.name(),
                body["error"]
            );
            continue;
        }
        match doc.kind {
            Kind::Scenario | Kind::Survey => println!(
                "{}: {} {} saved as version {}",
                doc.source,
                doc.kind.name(),
                doc.id,
                body["version"]
            ),
            Kind::Rule | Kind::AutoReply => {
                println!("{}: {} {} saved", doc.source, doc.kind.name(), doc.id)
            }
            Kind::Dormancy => println!(
                "{}: dormancy settings saved ({} tiers)",
                doc.source,
                body["tiers"].as_array().map_or(0, Vec::len)
            ),
        }
    }
    anyhow::ensure!(
        refused == 0,
        "{refused} of {} definitions were refused",
        docs.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_shape_or_a_kind_key() {
        let text = "id: welcome\nsteps: []\n---\n# only a comment\n---\nid: vip\nwhen: { type: purchase }\n---\nkind: autoReply\nid: hours\nmatch: { type: fallback }\nmessages: []\n---\ntiers: []\n";
        let docs = parse("defs.yaml", text, None).unwrap();
        let kinds: Vec<(Kind, &str, &str)> = docs
            .iter()
            .map(|d| (d.kind, d.id.as_str(), d.source.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Kind::Scenario, "welcome", "defs.yaml#1"),
                (Kind::Rule, "vip", "defs.yaml#2"),
                (Kind::AutoReply, "hours", "defs.yaml#3"),
                (Kind::Dormancy, "", "defs.yaml#4"),
            ]
        );
        // The kind key is the client's: the server refuses unknown keys.
        assert!(docs[2].body.get("kind").is_none());
    }

    #[test]
    fn a_document_of_another_kind_than_asked_is_refused() {
        let err = parse("w.yaml", "id: welcome\nsteps: []\n", Some(Kind::Survey)).unwrap_err();
        assert!(
            err.to_string().contains("is a scenario, not a survey"),
            "{err}"
        );
        assert!(parse("x.yaml", "id: x\nname: y\n", None).is_err());
        assert!(parse("x.yaml", "steps: []\n", None).is_err(), "no id");
    }

    #[test]
    fn the_examples_folder_applies_surveys_and_scenarios_before_the_dormancy_settings() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples");
        let docs = collect(&[examples], None).unwrap();
        assert!(!docs.is_empty());
        let kinds: Vec<Kind> = docs.iter().map(|d| d.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(kinds, sorted);
        assert_eq!(kinds.last(), Some(&Kind::Dormancy));
        assert!(
            docs.iter()
                .any(|d| d.kind == Kind::Scenario && d.id == "welcome")
        );
    }
}
