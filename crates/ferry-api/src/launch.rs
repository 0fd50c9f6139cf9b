//! Launching an application: the body of `POST /v1pre3/applications/{id}/appsessions` and the
//! check of launch options against an application's form ([`AppForm::check`]), one
//! implementation shared by `bs launch application` (which lists every problem before
//! anything is sent) and the hub (which refuses a launch with 409 and the same problems).
//!
//! The body is what BaseSpace's launch API takes: `{Name, StatusSummary, AutoStart,
//! Properties:[{Name:"Input.<field>", Type, Content | Items}]}`, where a resource is named by
//! its path (`v1pre3/projects/123`, `v2/biosamples/456`) or its bare ID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AppForm, AppFormField};

/// Prefix of a launch property's name: `Input.project-id`.
pub const INPUT_PREFIX: &str = "Input.";

/// The message BaseSpace answers a launch whose options do not fit the form with (409).
pub const FORM_VALIDATION_MESSAGE: &str = "Form validation found some errors";

/// The body of a launch request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LaunchBody {
    /// The app session's name (its label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The session's first status summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_summary: Option<String>,
    /// Start at once (the only way Ferry runs launches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    /// The form's values, one property per field.
    pub properties: Vec<LaunchProperty>,
}

/// One value of a launch: `Input.<field>` with a single `Content` or a list of `Items`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LaunchProperty {
    /// `Input.<field id>`.
    pub name: String,
    /// `string`, `project`, `biosample[]`, `sample[]`, `dataset[]`, …
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub property_type: Option<String>,
    /// A single value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Several values (BaseSpace's examples spell it `items`).
    #[serde(alias = "items", skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
}

impl LaunchBody {
    /// The options named by the properties: field ID → values (a single `Content` or the
    /// `Items`), in the order given. Properties outside `Input.` are not options and are kept
    /// out; a repeated field adds its values.
    pub fn options(&self) -> BTreeMap<String, Vec<String>> {
        let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for property in &self.properties {
            let Some(field) = property.name.strip_prefix(INPUT_PREFIX) else {
                continue;
            };
            let values = options.entry(field.to_string()).or_default();
            if let Some(content) = &property.content {
                values.push(content.clone());
            }
            if let Some(items) = &property.items {
                values.extend(items.iter().cloned());
            }
        }
        options
    }

    /// A launch body for `options` typed by `form` (resources as `v2/<kind>s/<id>`).
    pub fn from_options(name: Option<String>, form: &AppForm, options: &BTreeMap<String, Vec<String>>) -> LaunchBody {
        let properties = options
            .iter()
            .map(|(field_id, values)| {
                let field = form.fields.iter().find(|f| &f.id == field_id);
                let kind = field.map(|f| f.field_type.as_str()).unwrap_or("text");
                let multiple = field.is_some_and(|f| f.multiple);
                let resource = resource_kind(kind);
                let value = |v: &String| match resource {
                    Some(kind) if !v.contains('/') => format!("v2/{kind}s/{v}"),
                    _ => v.clone(),
                };
                let property_type = match (resource, multiple) {
                    (Some(kind), true) => format!("{kind}[]"),
                    (Some(kind), false) => kind.to_string(),
                    (None, true) => "string[]".to_string(),
                    (None, false) => "string".to_string(),
                };
                let (content, items) = if multiple {
                    (None, Some(values.iter().map(value).collect()))
                } else {
                    (values.first().map(value), None)
                };
                LaunchProperty {
                    name: format!("{INPUT_PREFIX}{field_id}"),
                    property_type: Some(property_type),
                    content,
                    items,
                }
            })
            .collect();
        LaunchBody {
            name,
            status_summary: None,
            auto_start: Some(true),
            properties,
        }
    }
}

/// The resource kind a field of this type names (`project`, `biosample`, `dataset`), if any.
pub fn resource_kind(field_type: &str) -> Option<&'static str> {
    match field_type {
        "project" => Some("project"),
        "biosample" | "sample" => Some("biosample"),
        "dataset" => Some("dataset"),
        _ => None,
    }
}

/// A resource named in a launch, reduced to its ID: `v1pre3/projects/123`, `v2/biosamples/7`,
/// `https://host/v2/datasets/ds.1` and `123` all name their last path segment. `v1pre3/samples/N`
/// stays whole: it names a dataset by its legacy number, which only the hub can resolve.
pub fn resource_id(value: &str) -> &str {
    let value = value.trim().trim_end_matches('/');
    if value.contains("v1pre3/samples/") {
        return value;
    }
    value.rsplit('/').next().unwrap_or(value)
}

/// One problem of a launch: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field's ID (`project-id`).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl AppForm {
    /// Checks launch options (field ID → values) against the form, and fills in the defaults.
    /// Every problem is listed at once: unknown fields (the known ones are named), missing
    /// required fields, several values for a single field, numbers that are not numbers or
    /// out of range, choices not offered, checkboxes that are not true/false, empty values.
    /// Whether named resources exist and may be used is for the hub to say.
    pub fn check(
        &self,
        options: &BTreeMap<String, Vec<String>>,
    ) -> Result<BTreeMap<String, Vec<String>>, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let problem = |field: &str, message: String| FieldProblem {
            field: field.to_string(),
            message,
        };
        for key in options.keys() {
            if !self.fields.iter().any(|f| &f.id == key) {
                let known: Vec<&str> = self.fields.iter().map(|f| f.id.as_str()).collect();
                problems.push(problem(
                    key,
                    format!(
                        "this application has no such option; its options are {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut resolved = BTreeMap::new();
        for field in &self.fields {
            let given: Vec<String> = options
                .get(&field.id)
                .map(|values| values.iter().map(|v| v.trim().to_string()).collect())
                .unwrap_or_default();
            let values = if given.is_empty() {
                match &field.default {
                    Some(default) => vec![default.clone()],
                    None if field.required => {
                        problems.push(problem(
                            &field.id,
                            format!("required ({}); set it with -o {}:VALUE", field.label, field.id),
                        ));
                        continue;
                    }
                    None => continue,
                }
            } else {
                given
            };
            if values.iter().any(String::is_empty) {
                problems.push(problem(&field.id, "a value is empty".to_string()));
                continue;
            }
            if values.len() > 1 && !field.multiple {
                problems.push(problem(
                    &field.id,
                    format!("takes one value, {} were given", values.len()),
                ));
                continue;
            }
            if let Some(message) = values.iter().find_map(|v| value_problem(field, v)) {
                problems.push(problem(&field.id, message));
                continue;
            }
            resolved.insert(field.id.clone(), values);
        }
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(problems)
        }
    }
}

fn value_problem(field: &AppFormField, value: &str) -> Option<String> {
    match field.field_type.as_str() {
        "number" => {
            let Ok(number) = value.parse::<f64>() else {
                return Some(format!("'{value}' is not a number"));
            };
            if !number.is_finite() {
                return Some(format!("'{value}' is not a number"));
            }
            if let Some(min) = field.min
                && number < min
            {
                return Some(format!("{value} is below the smallest allowed value, {min}"));
            }
            if let Some(max) = field.max
                && number > max
            {
                return Some(format!("{value} is above the largest allowed value, {max}"));
            }
            None
        }
        "choice" if !field.choices.iter().any(|c| c.eq_ignore_ascii_case(value)) => Some(format!(
            "'{value}' is not one of the choices: {}",
            field.choices.join(", ")
        )),
        "checkbox" if !matches!(value.to_ascii_lowercase().as_str(), "true" | "false" | "1" | "0") => {
            Some(format!("'{value}' is not true or false"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> AppForm {
        let field = |id: &str, field_type: &str, required: bool| AppFormField {
            id: id.into(),
            label: id.into(),
            field_type: field_type.into(),
            required,
            ..AppFormField::default()
        };
        let mut samples = field("sample-id", "biosample", true);
        samples.multiple = true;
        let mut quality = field("quality", "number", false);
        quality.default = Some("20".into());
        quality.min = Some(0.0);
        quality.max = Some(41.0);
        let mut outcome = field("outcome", "choice", false);
        outcome.choices = vec!["Complete".into(), "Aborted".into()];
        AppForm {
            fields: vec![field("project-id", "project", true), samples, quality, outcome],
        }
    }

    fn options(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let problems = form()
            .check(&options(&[
                ("colour", &["red"]),
                ("quality", &["high"]),
                ("outcome", &["Maybe"]),
            ]))
            .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["colour", "project-id", "sample-id", "quality", "outcome"]);
        assert!(problems[0].message.contains("project-id, sample-id, quality, outcome"));
        assert!(problems[3].message.contains("'high' is not a number"));
        assert!(problems[4].message.contains("Complete, Aborted"));
    }

    #[test]
    fn defaults_fill_in_and_ranges_hold() {
        let resolved = form()
            .check(&options(&[("project-id", &["1"]), ("sample-id", &["2", "3"])]))
            .unwrap();
        assert_eq!(resolved["quality"], ["20"]);
        assert!(!resolved.contains_key("outcome"));
        let problems = form()
            .check(&options(&[
                ("project-id", &["1", "2"]),
                ("sample-id", &["2"]),
                ("quality", &["50"]),
            ]))
            .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("takes one value"));
        assert!(problems[1].message.contains("largest allowed value, 41"));
    }

    #[test]
    fn bodies_round_trip_to_options() {
        let body = LaunchBody::from_options(
            Some("run 1".into()),
            &form(),
            &options(&[("project-id", &["12"]), ("sample-id", &["3", "v1pre3/samples/4"])]),
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["Properties"][0]["Name"], "Input.project-id");
        assert_eq!(json["Properties"][0]["Type"], "project");
        assert_eq!(json["Properties"][0]["Content"], "v2/projects/12");
        assert_eq!(json["Properties"][1]["Type"], "biosample[]");
        assert_eq!(json["Properties"][1]["Items"][1], "v1pre3/samples/4");
        let parsed: LaunchBody = serde_json::from_str(
            r#"{"Name":"x","Properties":[{"Name":"Input.sample-id","Type":"sample[]","items":["v1pre3/samples/9"]},
                {"Name":"Input.project-id","Type":"project","Content":"v1pre3/projects/5"},{"Name":"Output.x","Content":"y"}]}"#,
        )
        .unwrap();
        let options = parsed.options();
        assert_eq!(options.len(), 2);
        assert_eq!(resource_id(&options["project-id"][0]), "5");
        assert_eq!(resource_id(&options["sample-id"][0]), "v1pre3/samples/9");
        assert_eq!(resource_id("https://h/v2/datasets/ds.ab/"), "ds.ab");
    }
}
