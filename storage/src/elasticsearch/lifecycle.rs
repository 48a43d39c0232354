//! Jaeger's index tools as library functions (spec §4.8); the binary wires them to
//! `spoor es-index-cleaner <days>` and `spoor es-rollover init|rollover|lookback`.
//!
//! * [`clean_indices`] — `es-index-cleaner`: deletes `<prefix->jaeger-{span,service,dependencies,
//!   sampling}-<date>` indices (or `-NNNNNN` rollover indices) created before
//!   `(tomorrow 00:00 UTC) − days` (or `now − days` with `relative_time`), never one that holds a
//!   `*-write` alias.
//! * [`rollover_init`] — templates, `<name>-000001` and the `-read`/`-write` aliases.
//! * [`rollover`] — `POST <name>-write/_rollover` with conditions, then the read alias on every
//!   index that carries the write alias.
//! * [`rollover_lookback`] — removes indices created before a time reference from the read alias
//!   (never the current write index).
//!
//! The decisions (which index to delete, which alias to move) are pure functions of the listed
//! indices and the time, unit-tested without a cluster.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tracing::info;

use super::client::{index_list, EsClient};
use super::config::EsTarget;
use super::indices::{
    civil_from_days, days_from_civil, prefix_join, IndexNames, DEPENDENCIES_BASE, SERVICE_BASE, SPAN_BASE,
};
use super::templates::{self, TemplateOptions};
use super::writer::delete_indices;
use crate::api::{Result, StorageError};

/// An index of this prefix, as `GET /<prefix->jaeger-*` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JaegerIndex {
    pub name: String,
    /// `index.creation_date`, milliseconds since the epoch.
    pub creation_millis: u64,
    pub aliases: BTreeSet<String>,
}

/// `es-index-cleaner` options (Jaeger's flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanerOptions {
    /// Rollover indices (`-000001`) instead of daily ones (`--rollover`).
    pub rollover: bool,
    /// Only `jaeger-span-archive-NNNNNN` (`--archive`).
    pub archive: bool,
    /// Separator of the date parts (`--index-date-separator`).
    pub date_separator: String,
    /// Cut off at `now − days` instead of `(tomorrow 00:00 UTC) − days` (Jaeger's
    /// `jaeger.es.index.relativeTimeIndexDeletion` gate).
    pub relative_time: bool,
    /// List what would be deleted without deleting.
    pub dry_run: bool,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self { rollover: false, archive: false, date_separator: "-".into(), relative_time: false, dry_run: false }
    }
}

/// Lists `<prefix->jaeger-*` with creation dates and aliases.
pub async fn list_jaeger_indices(client: &EsClient, prefix: &str) -> Result<Vec<JaegerIndex>> {
    let pattern = format!("{}jaeger-*", prefix_join(prefix));
    let path = format!("/{}?flat_settings=true&filter_path=*.aliases,*.settings", index_list(&[pattern]));
    let (status, body) = client.send(http::Method::GET, &path, None).await?;
    if status == 404 {
        return Ok(Vec::new());
    }
    if !(200..300).contains(&status) {
        return Err(client.status_error(status, &body, "listing jaeger indices"));
    }
    let listing: Value =
        serde_json::from_slice(&body).map_err(|error| StorageError::Backend(format!("index listing: {error}")))?;
    Ok(parse_index_listing(&listing))
}

fn parse_index_listing(listing: &Value) -> Vec<JaegerIndex> {
    let mut indices: Vec<JaegerIndex> = listing
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, detail)| JaegerIndex {
            name: name.clone(),
            creation_millis: detail
                .pointer("/settings/index.creation_date")
                .and_then(|value| value.as_str().and_then(|text| text.parse().ok()).or_else(|| value.as_u64()))
                .unwrap_or(0),
            aliases: detail
                .get("aliases")
                .and_then(Value::as_object)
                .map(|aliases| aliases.keys().cloned().collect())
                .unwrap_or_default(),
        })
        .collect();
    indices.sort_by(|a, b| a.name.cmp(&b.name));
    indices
}

/// Jaeger's `CalculateDeletionCutoff`: `(tomorrow 00:00 UTC) − days`, or `now − days`.
pub fn deletion_cutoff(now: SystemTime, days: u32, relative_time: bool) -> SystemTime {
    let back = Duration::from_secs(u64::from(days) * 86_400);
    let base = if relative_time { now } else { tomorrow_midnight(now) };
    base.checked_sub(back).unwrap_or(UNIX_EPOCH)
}

fn tomorrow_midnight(now: SystemTime) -> SystemTime {
    let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs((seconds / 86_400 + 1) * 86_400)
}

fn millis(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

/// The indices `es-index-cleaner` deletes: this prefix's Jaeger indices by name pattern, without a
/// write alias, created before `cutoff`.
pub fn indices_to_clean(
    indices: &[JaegerIndex],
    prefix: &str,
    options: &CleanerOptions,
    cutoff: SystemTime,
) -> Vec<String> {
    let prefix = prefix_join(prefix);
    let write_aliases: Vec<String> = [
        "jaeger-span-write",
        "jaeger-service-write",
        "jaeger-span-archive-write",
        "jaeger-dependencies-write",
        "jaeger-sampling-write",
    ]
    .iter()
    .map(|alias| format!("{prefix}{alias}"))
    .collect();
    let cutoff = millis(cutoff);
    indices
        .iter()
        .filter(|index| cleanable_name(&index.name, &prefix, options))
        .filter(|index| !write_aliases.iter().any(|alias| index.aliases.contains(alias)))
        .filter(|index| index.creation_millis < cutoff)
        .map(|index| index.name.clone())
        .collect()
}

/// Jaeger's regular expressions, anchored at the start only (as Jaeger's):
/// `^<prefix>jaeger-(span|service|dependencies|sampling)-\d{4}<sep>\d{2}<sep>\d{2}`,
/// `…-\d{6}` with `rollover`, `^<prefix>jaeger-span-archive-\d{6}` with `archive`.
fn cleanable_name(name: &str, prefix: &str, options: &CleanerOptions) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else { return false };
    if options.archive {
        return rest.strip_prefix("jaeger-span-archive-").is_some_and(|tail| starts_with_digits(tail, 6));
    }
    let Some(rest) = rest.strip_prefix("jaeger-") else { return false };
    let tail = ["span-", "service-", "dependencies-", "sampling-"].iter().find_map(|kind| rest.strip_prefix(kind));
    let Some(tail) = tail else { return false };
    if options.rollover {
        return starts_with_digits(tail, 6);
    }
    let separator = options.date_separator.as_str();
    let Some(after_year) = digits_then(tail, 4, separator) else { return false };
    let Some(after_month) = digits_then(after_year, 2, separator) else { return false };
    starts_with_digits(after_month, 2)
}

fn starts_with_digits(text: &str, count: usize) -> bool {
    text.len() >= count && text.as_bytes()[..count].iter().all(u8::is_ascii_digit)
}

fn digits_then<'a>(text: &'a str, count: usize, separator: &str) -> Option<&'a str> {
    if !starts_with_digits(text, count) {
        return None;
    }
    text[count..].strip_prefix(separator)
}

/// `es-index-cleaner <days>`: deletes this prefix's Jaeger indices created before the cutoff and
/// returns their names (with `dry_run`, only returns them).
pub async fn clean_indices(
    client: &EsClient,
    prefix: &str,
    days: u32,
    now: SystemTime,
    options: &CleanerOptions,
) -> Result<Vec<String>> {
    let indices = list_jaeger_indices(client, prefix).await?;
    let cutoff = deletion_cutoff(now, days, options.relative_time);
    let doomed = indices_to_clean(&indices, prefix, options, cutoff);
    if !options.dry_run {
        for chunk in doomed.chunks(50) {
            delete_indices(client, chunk).await?;
        }
        info!(prefix, days, deleted = doomed.len(), "old jaeger indices deleted");
    }
    Ok(doomed)
}

/// `es-rollover` options (Jaeger's flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloverOptions {
    /// Leave out the dependencies index (`--skip-dependencies`).
    pub skip_dependencies: bool,
    /// The write alias is an ILM/ISM rollover alias (`--es.use-ilm`): the policy must exist, the
    /// templates carry the read alias and the write alias is `is_write_index`.
    pub use_ilm: bool,
    /// `--es.ilm-policy-name`.
    pub ilm_policy_name: String,
}

impl Default for RolloverOptions {
    fn default() -> Self {
        Self { skip_dependencies: false, use_ilm: false, ilm_policy_name: "jaeger-ilm-policy".into() }
    }
}

fn rollover_bases(options: &RolloverOptions) -> Vec<&'static str> {
    let mut bases = vec![SPAN_BASE, SERVICE_BASE];
    if !options.skip_dependencies {
        bases.push(DEPENDENCIES_BASE);
    }
    bases
}

/// `es-rollover init`: templates (shards, replicas, priorities from `target`), `<name>-000001`
/// when missing, and the `-read`/`-write` aliases when no index holds them yet.
pub async fn rollover_init(client: &EsClient, target: &EsTarget, options: &RolloverOptions) -> Result<()> {
    if options.use_ilm {
        ensure_policy_exists(client, &options.ilm_policy_name).await?;
    }
    let names = IndexNames::new(target);
    templates::install(client, target, &names, &TemplateOptions { read_alias: options.use_ilm }).await?;
    let prefix = prefix_join(&target.index_prefix);
    let existing = list_jaeger_indices(client, &target.index_prefix).await?;
    let mut actions = Vec::new();
    for base in rollover_bases(options) {
        let first = format!("{prefix}{base}-000001");
        create_index_if_missing(client, &first).await?;
        actions.extend(init_alias_actions(&existing, &prefix, base, options.use_ilm));
    }
    update_aliases(client, actions).await?;
    info!(prefix = %target.index_prefix, "rollover indices and aliases initialised");
    Ok(())
}

/// The alias additions of `init` for one base: each missing alias on `<name>-000001`.
/// `is_write_index` is sent only when true, as Jaeger does: an explicit `false` would forbid writes
/// through an alias of one index.
fn init_alias_actions(existing: &[JaegerIndex], prefix: &str, base: &str, use_ilm: bool) -> Vec<Value> {
    let first = format!("{prefix}{base}-000001");
    let read = format!("{prefix}{base}-read");
    let write = format!("{prefix}{base}-write");
    let has = |alias: &str| existing.iter().any(|index| index.aliases.contains(alias));
    let mut actions = Vec::new();
    if !has(&read) {
        actions.push(json!({ "add": { "index": first, "alias": read } }));
    }
    if !has(&write) {
        let mut add = json!({ "index": first, "alias": write });
        if use_ilm {
            add["is_write_index"] = json!(true);
        }
        actions.push(json!({ "add": add }));
    }
    actions
}

/// `es-rollover rollover`: rolls each write alias over when `conditions` hold (Jaeger's default
/// `{"max_age": "2d"}`), then puts the read alias on every index holding the write alias.
pub async fn rollover(client: &EsClient, prefix: &str, conditions: &Value, options: &RolloverOptions) -> Result<()> {
    let joined = prefix_join(prefix);
    for base in rollover_bases(options) {
        let write = format!("{joined}{base}-write");
        let body = serde_json::to_vec(&json!({ "conditions": conditions }))
            .map_err(|error| StorageError::Backend(error.to_string()))?;
        let (status, response) = client.send(http::Method::POST, &format!("/{write}/_rollover"), Some(body)).await?;
        if !(200..300).contains(&status) {
            return Err(client.status_error(status, &response, "rollover"));
        }
    }
    let indices = list_jaeger_indices(client, prefix).await?;
    let actions: Vec<Value> =
        rollover_bases(options).into_iter().flat_map(|base| read_alias_actions(&indices, &joined, base)).collect();
    update_aliases(client, actions).await
}

/// Adds `<name>-read` to every index holding `<name>-write` that lacks it.
fn read_alias_actions(indices: &[JaegerIndex], prefix: &str, base: &str) -> Vec<Value> {
    let read = format!("{prefix}{base}-read");
    let write = format!("{prefix}{base}-write");
    indices
        .iter()
        .filter(|index| index.aliases.contains(&write) && !index.aliases.contains(&read))
        .map(|index| json!({ "add": { "index": index.name, "alias": read } }))
        .collect()
}

/// The unit of `es-rollover lookback --unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookbackUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl std::str::FromStr for LookbackUnit {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Ok(match text {
            "seconds" => Self::Seconds,
            "minutes" => Self::Minutes,
            "hours" => Self::Hours,
            "days" => Self::Days,
            "weeks" => Self::Weeks,
            "months" => Self::Months,
            "years" => Self::Years,
            other => {
                return Err(format!("unknown unit {other:?} (seconds, minutes, hours, days, weeks, months, years)"))
            }
        })
    }
}

/// Jaeger's `getTimeReference`: whole-unit truncation for seconds/minutes/hours, tomorrow 00:00
/// UTC minus the span for days and longer.
pub fn lookback_reference(now: SystemTime, unit: LookbackUnit, count: u32) -> SystemTime {
    let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let count64 = u64::from(count);
    let back = |truncate: u64, step: u64| {
        UNIX_EPOCH + Duration::from_secs((seconds / truncate * truncate).saturating_sub(count64 * step))
    };
    let tomorrow_days = (seconds / 86_400 + 1) as i64;
    let months_back = |months: i64| {
        let (year, month, day) = civil_from_days(tomorrow_days);
        let total = year * 12 + (month - 1) - months;
        let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
        // Go's AddDate normalises day overflow into the next month.
        let days = days_from_civil(year, month, 1) + day - 1;
        UNIX_EPOCH + Duration::from_secs(u64::try_from(days.max(0)).unwrap_or(0) * 86_400)
    };
    match unit {
        LookbackUnit::Seconds => back(1, 1),
        LookbackUnit::Minutes => back(60, 60),
        LookbackUnit::Hours => back(3_600, 3_600),
        LookbackUnit::Days => back(86_400, 86_400) + Duration::from_secs(86_400),
        LookbackUnit::Weeks => back(86_400, 7 * 86_400) + Duration::from_secs(86_400),
        LookbackUnit::Months => months_back(i64::from(count)),
        LookbackUnit::Years => months_back(12 * i64::from(count)),
    }
}

/// `es-rollover lookback`: removes from each read alias the indices created before the reference
/// (except the write index) and returns the (index, alias) pairs removed.
pub async fn rollover_lookback(
    client: &EsClient,
    prefix: &str,
    unit: LookbackUnit,
    count: u32,
    now: SystemTime,
    options: &RolloverOptions,
) -> Result<Vec<(String, String)>> {
    let indices = list_jaeger_indices(client, prefix).await?;
    let reference = lookback_reference(now, unit, count);
    let joined = prefix_join(prefix);
    let removals: Vec<(String, String)> = rollover_bases(options)
        .into_iter()
        .flat_map(|base| lookback_removals(&indices, &joined, base, reference))
        .collect();
    let actions =
        removals.iter().map(|(index, alias)| json!({ "remove": { "index": index, "alias": alias } })).collect();
    update_aliases(client, actions).await?;
    Ok(removals)
}

fn lookback_removals(
    indices: &[JaegerIndex],
    prefix: &str,
    base: &str,
    reference: SystemTime,
) -> Vec<(String, String)> {
    let read = format!("{prefix}{base}-read");
    let write = format!("{prefix}{base}-write");
    let reference = millis(reference);
    indices
        .iter()
        .filter(|index| index.aliases.contains(&read) && !index.aliases.contains(&write))
        .filter(|index| index.creation_millis < reference)
        .map(|index| (index.name.clone(), read.clone()))
        .collect()
}

/// Deletes the span, service and dependencies templates of `target` (both the legacy and the
/// composable kind; missing ones are fine). For tests and for retiring a prefix.
pub async fn delete_templates(client: &EsClient, target: &EsTarget) -> Result<()> {
    let names = IndexNames::new(target);
    for kind in templates::TemplateKind::ALL {
        let name = names.base_name(kind.base());
        for path in [format!("/_index_template/{name}"), format!("/_template/{name}")] {
            let (status, body) = client.send(http::Method::DELETE, &path, None).await?;
            if !(200..300).contains(&status) && status != 404 && status != 400 {
                return Err(client.status_error(status, &body, "deleting a template"));
            }
        }
    }
    Ok(())
}

async fn create_index_if_missing(client: &EsClient, name: &str) -> Result<()> {
    let (status, body) = client.send(http::Method::PUT, &format!("/{name}"), None).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    if status == 400 && text.contains("resource_already_exists_exception") {
        return Ok(());
    }
    Err(client.status_error(status, &body, "creating the first rollover index"))
}

async fn update_aliases(client: &EsClient, actions: Vec<Value>) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let body =
        serde_json::to_vec(&json!({ "actions": actions })).map_err(|error| StorageError::Backend(error.to_string()))?;
    let (status, response) = client.send(http::Method::POST, "/_aliases", Some(body)).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(client.status_error(status, &response, "updating aliases"))
    }
}

async fn ensure_policy_exists(client: &EsClient, policy: &str) -> Result<()> {
    let path = if client.server_version().opensearch {
        format!("/_plugins/_ism/policies/{policy}")
    } else {
        format!("/_ilm/policy/{policy}")
    };
    let (status, body) = client.send(http::Method::GET, &path, None).await?;
    match status {
        200..=299 => Ok(()),
        404 => Err(StorageError::InvalidQuery(format!(
            "ILM/ISM policy {policy:?} does not exist in {}; create it before `es-rollover init --es.use-ilm`",
            client.endpoint()
        ))),
        _ => Err(client.status_error(status, &body, "reading the ILM policy")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn index(name: &str, created_seconds: u64, aliases: &[&str]) -> JaegerIndex {
        JaegerIndex {
            name: name.into(),
            creation_millis: created_seconds * 1_000,
            aliases: aliases.iter().map(|alias| (*alias).to_owned()).collect(),
        }
    }

    /// 2024-05-31T12:00:00Z.
    const NOW: u64 = 1_717_156_800;

    #[test]
    fn cutoff_is_tomorrow_midnight_minus_the_days() {
        // Tomorrow 00:00 is 2024-06-01T00:00:00Z = 1717200000.
        assert_eq!(deletion_cutoff(at(NOW), 1, false), at(1_717_200_000 - DAY));
        assert_eq!(deletion_cutoff(at(NOW), 0, false), at(1_717_200_000));
        assert_eq!(deletion_cutoff(at(NOW), 2, true), at(NOW - 2 * DAY));
    }

    #[test]
    fn cleaner_deletes_old_daily_indices_of_its_prefix_only() {
        let cutoff = deletion_cutoff(at(NOW), 1, false); // 2024-05-31T00:00Z
        let old = NOW - 3 * DAY;
        let indices = vec![
            index("p-jaeger-span-2024-05-28", old, &[]),
            index("p-jaeger-service-2024-05-28", old, &[]),
            index("p-jaeger-dependencies-2024-05-28", old, &[]),
            index("p-jaeger-sampling-2024-05-28", old, &[]),
            index("p-jaeger-span-2024-05-31", NOW, &[]),
            index("q-jaeger-span-2024-05-28", old, &[]),
            index("p-jaeger-span-archive", old, &[]),
            index("p-jaeger-span-000001", old, &[]),
            index("p-jaeger-unknown-2024-05-28", old, &[]),
        ];
        let doomed = indices_to_clean(&indices, "p", &CleanerOptions::default(), cutoff);
        assert_eq!(
            doomed,
            vec![
                "p-jaeger-span-2024-05-28",
                "p-jaeger-service-2024-05-28",
                "p-jaeger-dependencies-2024-05-28",
                "p-jaeger-sampling-2024-05-28"
            ]
        );
    }

    #[test]
    fn cleaner_uses_the_creation_date_not_the_name() {
        let cutoff = deletion_cutoff(at(NOW), 1, false);
        // Named old, created today (e.g. restored from a snapshot): kept.
        let indices = vec![index("jaeger-span-2020-01-01", NOW, &[])];
        assert!(indices_to_clean(&indices, "", &CleanerOptions::default(), cutoff).is_empty());
    }

    #[test]
    fn cleaner_never_deletes_an_index_with_a_write_alias() {
        let cutoff = deletion_cutoff(at(NOW), 0, false);
        let old = NOW - 10 * DAY;
        let indices = vec![
            index("jaeger-span-000001", old, &["jaeger-span-read"]),
            index("jaeger-span-000002", old, &["jaeger-span-read", "jaeger-span-write"]),
            index("jaeger-service-000001", old, &["jaeger-service-write"]),
        ];
        let options = CleanerOptions { rollover: true, ..CleanerOptions::default() };
        assert_eq!(indices_to_clean(&indices, "", &options, cutoff), vec!["jaeger-span-000001"]);
    }

    #[test]
    fn cleaner_honours_the_date_separator_and_archive_mode() {
        let cutoff = deletion_cutoff(at(NOW), 0, false);
        let old = NOW - 10 * DAY;
        let indices = vec![
            index("jaeger-span-2024.05.01", old, &[]),
            index("jaeger-span-2024-05-01", old, &[]),
            index("jaeger-span-archive-000003", old, &[]),
        ];
        let dotted = CleanerOptions { date_separator: ".".into(), ..CleanerOptions::default() };
        assert_eq!(indices_to_clean(&indices, "", &dotted, cutoff), vec!["jaeger-span-2024.05.01"]);
        let archive = CleanerOptions { archive: true, ..CleanerOptions::default() };
        assert_eq!(indices_to_clean(&indices, "", &archive, cutoff), vec!["jaeger-span-archive-000003"]);
    }

    #[test]
    fn parses_the_index_listing() {
        let listing = json!({
            "jaeger-span-000001": {"aliases": {"jaeger-span-read": {}, "jaeger-span-write": {"is_write_index": true}},
                                    "settings": {"index.creation_date": "1717156800000", "index.number_of_shards": "5"}},
            "jaeger-service-000001": {"settings": {"index.creation_date": "5"}}
        });
        let indices = parse_index_listing(&listing);
        assert_eq!(indices[0], index("jaeger-service-000001", 0, &[]).with_millis(5));
        assert_eq!(indices[1].creation_millis, 1_717_156_800_000);
        assert!(indices[1].aliases.contains("jaeger-span-write"));
    }

    impl JaegerIndex {
        fn with_millis(mut self, millis: u64) -> Self {
            self.creation_millis = millis;
            self
        }
    }

    #[test]
    fn init_adds_only_missing_aliases() {
        let none = init_alias_actions(&[], "p-", SPAN_BASE, false);
        assert_eq!(
            none,
            vec![
                json!({"add": {"index": "p-jaeger-span-000001", "alias": "p-jaeger-span-read"}}),
                json!({"add": {"index": "p-jaeger-span-000001", "alias": "p-jaeger-span-write"}}),
            ]
        );
        assert_eq!(init_alias_actions(&[], "", SPAN_BASE, true)[1]["add"]["is_write_index"], true);
        let existing = vec![index("p-jaeger-span-000003", 0, &["p-jaeger-span-read", "p-jaeger-span-write"])];
        assert!(init_alias_actions(&existing, "p-", SPAN_BASE, true).is_empty());
    }

    #[test]
    fn rollover_puts_the_read_alias_on_write_indices() {
        let indices = vec![
            index("jaeger-span-000001", 0, &["jaeger-span-read"]),
            index("jaeger-span-000002", 0, &["jaeger-span-write"]),
        ];
        assert_eq!(
            read_alias_actions(&indices, "", SPAN_BASE),
            vec![json!({"add": {"index": "jaeger-span-000002", "alias": "jaeger-span-read"}})]
        );
    }

    #[test]
    fn lookback_removes_old_read_indices_but_not_the_write_index() {
        let reference = lookback_reference(at(NOW), LookbackUnit::Days, 1); // 2024-05-31T00:00Z
        let indices = vec![
            index("jaeger-span-000001", NOW - 5 * DAY, &["jaeger-span-read"]),
            index("jaeger-span-000002", NOW - 5 * DAY, &["jaeger-span-read", "jaeger-span-write"]),
            index("jaeger-span-000003", NOW, &["jaeger-span-read"]),
        ];
        assert_eq!(
            lookback_removals(&indices, "", SPAN_BASE, reference),
            vec![("jaeger-span-000001".to_owned(), "jaeger-span-read".to_owned())]
        );
    }

    #[test]
    fn lookback_references_follow_jaeger() {
        let tomorrow = 1_717_200_000; // 2024-06-01T00:00Z
        assert_eq!(lookback_reference(at(NOW + 30), LookbackUnit::Minutes, 2), at(NOW - 120));
        assert_eq!(lookback_reference(at(NOW + 30), LookbackUnit::Hours, 1), at(NOW - 3_600));
        assert_eq!(lookback_reference(at(NOW), LookbackUnit::Days, 2), at(tomorrow - 2 * DAY));
        assert_eq!(lookback_reference(at(NOW), LookbackUnit::Weeks, 1), at(tomorrow - 7 * DAY));
        // 2024-06-01 minus one month is 2024-05-01; minus one year 2023-06-01.
        assert_eq!(lookback_reference(at(NOW), LookbackUnit::Months, 1), at(1_714_521_600));
        assert_eq!(lookback_reference(at(NOW), LookbackUnit::Years, 1), at(1_685_577_600));
        assert_eq!(lookback_reference(at(NOW), LookbackUnit::Seconds, 5), at(NOW - 5));
    }
}
