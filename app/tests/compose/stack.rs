//! docker-compose.yml and .env.example read as Compose reads them: YAML
//! merge keys resolved, `${VAR}` references interpolated from the env file.

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The image every engine service runs.
const ENGINE_IMAGE: &str = "ticketing:local";

/// A file of the workspace.
pub fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `.env.example` as `KEY → value` (no quoting: the file uses none).
pub fn env_example() -> BTreeMap<String, String> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: not KEY=value: {line}"));
            (key.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

/// `text` with `$$` and every `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?message}` and `${VAR?message}` replaced as Compose does; a
/// variable that `vars` lacks and that has no default is an error (Compose
/// would stop, or warn and put in nothing).
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(inner) = rest.strip_prefix('{') else {
            return Err(format!(
                "a bare $ before {:?}: write ${{VAR}} or $$",
                rest.get(..10)
            ));
        };
        let end = inner.find('}').ok_or("an unclosed ${")?;
        let expression = &inner[..end];
        rest = &inner[end + 1..];
        let name_end = expression
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expression.len());
        let (name, operator) = expression.split_at(name_end);
        let value = vars.get(name).filter(|v| !v.is_empty());
        match (value, operator) {
            (Some(value), _) => out.push_str(value),
            (None, op) if op.starts_with(":-") => out.push_str(&op[2..]),
            (None, op) if op.starts_with('-') => out.push_str(&op[1..]),
            (None, _) => return Err(format!("${{{expression}}}: {name} is not set")),
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// docker-compose.yml, merge keys resolved.
pub struct Compose(Value);

impl Compose {
    pub fn load() -> Self {
        let mut value: Value =
            serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
        // One pass resolves one level: a merged mapping that has a `<<` of
        // its own (`x-kafka-environment`) brings it along, for the next.
        for _ in 0..8 {
            value.apply_merge().expect("merge keys");
            if !serde_yaml::to_string(&value).unwrap().contains("<<") {
                return Compose(value);
            }
        }
        panic!("merge keys nested more than 8 deep");
    }

    fn services(&self) -> impl Iterator<Item = (String, &Value)> {
        self.0["services"]
            .as_mapping()
            .expect("services")
            .iter()
            .map(|(name, service)| (name.as_str().expect("a name").to_owned(), service))
    }

    /// The service's healthcheck command, `None` when it has none or it is
    /// disabled.
    pub fn healthcheck(&self, service: &str) -> Option<Vec<String>> {
        let check = &self.0["services"][service]["healthcheck"];
        if check.is_null() || check["disable"].as_bool() == Some(true) {
            return None;
        }
        Some(strings(&check["test"]))
    }

    /// The services whose image starts with `prefix`.
    pub fn services_of_image(&self, prefix: &str) -> Vec<String> {
        self.services()
            .filter(|(_, service)| {
                service["image"]
                    .as_str()
                    .is_some_and(|image| image.starts_with(prefix))
            })
            .map(|(name, _)| name)
            .collect()
    }

    /// `(service, dependency)` for every `condition: service_healthy`.
    pub fn healthy_dependencies(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (name, service) in self.services() {
            for (dependency, condition) in depends_on(service) {
                if condition == "service_healthy" {
                    pairs.push((name.clone(), dependency));
                }
            }
        }
        pairs
    }
}

/// An engine service: its command after `ticketing`, its environment with
/// .env.example's values put in.
#[derive(Debug)]
pub struct Service {
    pub name: String,
    pub args: Vec<String>,
    pub environment: Vec<(String, String)>,
    pub depends_on: BTreeMap<String, String>,
    pub restart: Option<String>,
}

impl Service {
    /// The `--role` of a `serve` service.
    pub fn role(&self) -> Option<&str> {
        let at = self.args.iter().position(|a| a == "--role")?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// A setting given by `flag` in the command, else by `variable`.
    pub fn setting(&self, flag: &str, variable: &str) -> Option<String> {
        match self.args.iter().position(|a| a == flag) {
            Some(at) => self.args.get(at + 1).cloned(),
            None => self
                .environment
                .iter()
                .find(|(k, _)| k == variable)
                .map(|(_, v)| v.clone()),
        }
    }
}

/// The services that run the engine's image.
pub fn engine_services(compose: &Compose) -> Vec<Service> {
    let vars = env_example();
    compose
        .services()
        .filter(|(_, service)| service["image"].as_str() == Some(ENGINE_IMAGE))
        .map(|(name, service)| {
            let command = strings(&service["command"]);
            assert_eq!(
                command.first().map(String::as_str),
                Some("ticketing"),
                "{name}: {command:?}"
            );
            let environment = service["environment"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{name}: environment is a mapping"))
                .iter()
                .map(|(key, value)| {
                    let key = scalar(key);
                    let value = interpolate(&scalar(value), &vars)
                        .unwrap_or_else(|e| panic!("{name}: {key}: {e}"));
                    (key, value)
                })
                .collect();
            Service {
                args: command[1..].to_vec(),
                environment,
                depends_on: depends_on(service).into_iter().collect(),
                restart: service["restart"].as_str().map(str::to_owned),
                name,
            }
        })
        .collect()
}

/// `depends_on` in its long form: `(service, condition)`.
fn depends_on(service: &Value) -> Vec<(String, String)> {
    service["depends_on"]
        .as_mapping()
        .map(|deps| {
            deps.iter()
                .map(|(name, dep)| (scalar(name), scalar(&dep["condition"])))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("a list, not {value:?}"))
        .iter()
        .map(scalar)
        .collect()
}

/// A string, number or boolean as Compose passes it on.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}
