//! The Grafana dashboard (`ops/grafana/venue.json`) stays true to `/metrics`:
//! every metric its queries name is a series the venue actually exposes, and
//! every panel reads the templated Prometheus data source.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use venue_server::metrics::Metrics;

/// The name of the data source variable every panel refers to.
const DS_VARIABLE: &str = "DS_PROMETHEUS";

/// Panel types built into Grafana: the dashboard needs no plugin.
const BUILT_IN_PANELS: &[&str] = &["row", "stat", "gauge", "timeseries", "bargauge", "table", "text"];

fn dashboard() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ops/grafana/venue.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows and the panels inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(inner) = panel.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn title(panel: &Value) -> String {
    format!("{} (id {})", panel["title"].as_str().unwrap_or("untitled"), panel["id"])
}

/// Every PromQL expression: panel targets and query variables.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr =
                target["expr"].as_str().unwrap_or_else(|| panic!("{}: a target without expr", title(panel)));
            out.push((title(panel), expr.to_owned()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            let query = variable["query"].get("query").unwrap_or(&variable["query"]);
            let query = query.as_str().expect("a query variable's query is text");
            out.push((format!("variable {}", variable["name"]), query.to_owned()));
        }
    }
    out
}

/// The metric names (`venue_[a-z0-9_]+`, as whole identifiers) in a PromQL
/// expression.
fn metric_names(expr: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut rest = expr;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("venue_") && !prev.is_some_and(is_ident) {
            let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            let name = &rest[..len];
            assert!(
                name.len() > "venue_".len()
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name:?} in {expr:?} is not a venue metric name"
            );
            names.push(name.to_owned());
            prev = name.chars().last();
            rest = &rest[len..];
        } else {
            prev = Some(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    names
}

/// What `/metrics` shows, with at least one series of every labelled
/// family.
fn exposition() -> String {
    let metrics = Metrics::default();
    metrics
        .count_output(&venue_engine::Output::CommandRejected { reason: venue_domain::Reject::UnknownAsset });
    metrics.count_http("admin", 200);
    metrics.request_latency.record(Duration::from_micros(50));
    let stats = venue_pipeline::Stats::default();
    metrics.render(&stats, 3, 1024)
}

#[test]
fn the_name_scanner_finds_whole_metric_names() {
    assert_eq!(
        metric_names("sum by (le) (rate(venue_a_bucket{x=\"y\"}[1m])) / venue_b_total - xvenue_c"),
        ["venue_a_bucket", "venue_b_total"]
    );
}

#[test]
fn every_metric_the_dashboard_queries_is_exposed() {
    let dashboard = dashboard();
    let text = exposition();
    let series: BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| &line[..line.find(['{', ' ']).unwrap_or(line.len())])
        .collect();
    let expressions = expressions(&dashboard);
    assert!(!expressions.is_empty(), "the dashboard has no queries");
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    for (panel, expr) in &expressions {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{panel}: {expr:?} names no venue metric");
        for name in names {
            // `name ` or `name{` at the start of a sample line: histograms
            // are queried by their _bucket/_sum/_count series, never bare.
            let exposed = text.lines().any(|line| {
                line.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with([' ', '{']))
            });
            if !exposed {
                missing.push(format!("{panel}: {name}"));
            }
            used.insert(name);
        }
    }
    assert!(missing.is_empty(), "not in the exposition: {missing:#?}\nexposed series: {series:#?}");
    assert!(used.contains("venue_request_latency_seconds_bucket"), "the latency quantiles read the buckets");
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard = dashboard();
    for key in ["title", "uid"] {
        let value = dashboard[key].as_str().unwrap_or_default();
        assert!(!value.trim().is_empty(), "the dashboard needs a {key}");
    }
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "a current schemaVersion");

    let panels = panels(&dashboard);
    let charts = panels.iter().filter(|p| p["type"] != "row").count();
    assert!(charts >= 10, "only {charts} panels besides rows");

    let rows: Vec<&str> =
        panels.iter().filter(|p| p["type"] == "row").filter_map(|p| p["title"].as_str()).collect();
    assert_eq!(rows, ["Health", "Engine & journal", "Trading", "Latency", "HTTP"]);

    let ids: Vec<u64> =
        panels.iter().map(|p| p["id"].as_u64().expect("every panel has a numeric id")).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "panel ids are unique");
}

#[test]
fn every_panel_reads_the_templated_prometheus_data_source() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().expect("a templating list");
    let source = variables
        .iter()
        .find(|v| v["name"] == DS_VARIABLE)
        .unwrap_or_else(|| panic!("no ${DS_VARIABLE} variable"));
    assert_eq!(source["type"], "datasource", "${DS_VARIABLE} is a data source variable");
    assert_eq!(source["query"], "prometheus", "${DS_VARIABLE} picks a Prometheus data source");

    let reference = format!("${{{DS_VARIABLE}}}");
    let reads_it = |datasource: &Value| {
        datasource["type"] == "prometheus" && datasource["uid"].as_str() == Some(reference.as_str())
    };
    for panel in panels(&dashboard) {
        let kind = panel["type"].as_str().unwrap_or_default();
        assert!(BUILT_IN_PANELS.contains(&kind), "{}: {kind:?} is not a built-in panel", title(panel));
        assert!(
            reads_it(&panel["datasource"]),
            "{}: datasource {} is not {reference}",
            title(panel),
            panel["datasource"]
        );
        let targets = panel["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(kind == "row", targets.is_empty(), "{}: rows and only rows have no queries", title(panel));
        for target in targets {
            // A target without its own datasource inherits the panel's.
            let datasource = target.get("datasource").unwrap_or(&panel["datasource"]);
            assert!(
                reads_it(datasource),
                "{}: target datasource {datasource} is not {reference}",
                title(panel)
            );
        }
    }
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert!(reads_it(&variable["datasource"]), "variable {} does not read {reference}", variable["name"]);
    }
}
