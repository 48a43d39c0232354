//! Day partitions: a pair of keyspaces (`spans-YYYY-MM-DD`, `index-YYYY-MM-DD`) per UTC day of
//! writing, shared by all namespaces (keys start with the namespace). Retention drops whole days,
//! reads visit every live day (a handful), and the services/operations of each day are kept in
//! memory, loaded on open.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use fjall::config::FilterPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions};
use parking_lot::RwLock;
use spoor_model::SpanKind;

use super::dbmodel::{parse_operation_key, OPERATION_ROW_TAG};
use super::fjall_error;
use crate::api::{Operation, Result};

pub(crate) const DAY_NANOS: u64 = 86_400 * 1_000_000_000;

/// Days since the Unix epoch (UTC).
pub(crate) type Day = u32;

pub(crate) fn day_of(unix_nanos: u64) -> Day {
    u32::try_from(unix_nanos / DAY_NANOS).unwrap_or(u32::MAX)
}

/// The keyspaces and catalog of one day.
pub(crate) struct DayPartition {
    pub day: Day,
    pub spans: Keyspace,
    pub index: Keyspace,
    pub catalog: RwLock<Catalog>,
}

/// Services and operations per namespace, as written in one day.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    by_namespace: HashMap<String, BTreeMap<String, BTreeSet<Operation>>>,
}

impl Catalog {
    pub(crate) fn contains(&self, namespace: &str, service: &str, operation: &str, kind: SpanKind) -> bool {
        self.by_namespace
            .get(namespace)
            .and_then(|services| services.get(service))
            .is_some_and(|operations| operations.contains(&Operation { name: operation.to_owned(), span_kind: kind }))
    }

    pub(crate) fn insert(&mut self, namespace: &str, service: &str, operation: &str, kind: SpanKind) {
        self.by_namespace
            .entry(namespace.to_owned())
            .or_default()
            .entry(service.to_owned())
            .or_default()
            .insert(Operation { name: operation.to_owned(), span_kind: kind });
    }

    pub(crate) fn services(&self, namespace: &str) -> impl Iterator<Item = &String> {
        self.by_namespace.get(namespace).into_iter().flat_map(|services| services.keys())
    }

    pub(crate) fn operations(&self, namespace: &str, service: &str) -> impl Iterator<Item = &Operation> {
        self.by_namespace.get(namespace).and_then(|services| services.get(service)).into_iter().flatten()
    }
}

/// The live day partitions.
pub(crate) struct Partitions {
    db: Database,
    days: RwLock<BTreeMap<Day, Arc<DayPartition>>>,
}

impl Partitions {
    /// Opens every day found in `db` and loads its catalog.
    pub(crate) fn open(db: Database) -> Result<Self> {
        let partitions = Self { db, days: RwLock::default() };
        let mut days: Vec<Day> =
            partitions.db.list_keyspace_names().iter().filter_map(|name| parse_keyspace_name(name, "spans-")).collect();
        days.sort_unstable();
        for day in days {
            let partition = partitions.open_day(day)?;
            partitions.days.write().insert(day, partition);
        }
        Ok(partitions)
    }

    /// The partition of `day`, created when missing.
    pub(crate) fn get_or_create(&self, day: Day) -> Result<Arc<DayPartition>> {
        if let Some(partition) = self.days.read().get(&day) {
            return Ok(partition.clone());
        }
        let mut days = self.days.write();
        if let Some(partition) = days.get(&day) {
            return Ok(partition.clone());
        }
        let partition = self.open_day(day)?;
        days.insert(day, partition.clone());
        tracing::info!(day = %format_day(day), "embedded store opened a new day partition");
        Ok(partition)
    }

    /// Every live partition, newest first.
    pub(crate) fn live(&self) -> Vec<Arc<DayPartition>> {
        self.days.read().values().rev().cloned().collect()
    }

    /// Deletes the partitions of days before `first_kept_day`; returns the deleted days.
    pub(crate) fn drop_days_before(&self, first_kept_day: Day) -> Result<Vec<Day>> {
        let expired: Vec<Arc<DayPartition>> = {
            let mut days = self.days.write();
            let kept = days.split_off(&first_kept_day);
            let expired = std::mem::replace(&mut *days, kept);
            expired.into_values().collect()
        };
        self.delete(expired)
    }

    /// Deletes every partition; returns the deleted days. A later
    /// [`get_or_create`](Self::get_or_create) of one of those days starts an empty partition.
    pub(crate) fn drop_all(&self) -> Result<Vec<Day>> {
        let all: Vec<Arc<DayPartition>> = std::mem::take(&mut *self.days.write()).into_values().collect();
        self.delete(all)
    }

    /// Deletes the keyspaces of partitions already taken out of `days`.
    fn delete(&self, partitions: Vec<Arc<DayPartition>>) -> Result<Vec<Day>> {
        let mut dropped = Vec::with_capacity(partitions.len());
        for partition in partitions {
            // fjall removes the files once the last handle (a running read) is gone.
            self.db.delete_keyspace(partition.spans.clone()).map_err(fjall_error)?;
            self.db.delete_keyspace(partition.index.clone()).map_err(fjall_error)?;
            dropped.push(partition.day);
        }
        Ok(dropped)
    }

    fn open_day(&self, day: Day) -> Result<Arc<DayPartition>> {
        let date = format_day(day);
        let spans = self.db.keyspace(&format!("spans-{date}"), spans_keyspace_options).map_err(fjall_error)?;
        let index = self.db.keyspace(&format!("index-{date}"), index_keyspace_options).map_err(fjall_error)?;
        let mut catalog = Catalog::default();
        for entry in index.prefix([OPERATION_ROW_TAG]) {
            let key = entry.key().map_err(fjall_error)?;
            let (namespace, service, kind, operation) = parse_operation_key(&key)?;
            catalog.insert(&namespace, &service, &operation, kind);
        }
        Ok(Arc::new(DayPartition { day, spans, index, catalog: RwLock::new(catalog) }))
    }
}

/// Span-group rows are read by prefix scans only, so no bloom filters; values of a few KiB are
/// kept apart from the keys so compactions do not rewrite them.
fn spans_keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .filter_policy(FilterPolicy::disabled())
        .with_kv_separation(Some(KvSeparationOptions::default()))
}

/// Search and operation rows are read by range scans only.
fn index_keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().filter_policy(FilterPolicy::disabled())
}

/// `YYYY-MM-DD` of a day number (proleptic Gregorian).
pub(crate) fn format_day(day: Day) -> String {
    let (year, month, day_of_month) = spoor_model::civil_date::civil_from_days(i64::from(day));
    format!("{year:04}-{month:02}-{day_of_month:02}")
}

/// The day of a `YYYY-MM-DD` date.
pub(crate) fn parse_day(date: &str) -> Option<Day> {
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day_of_month: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day_of_month) {
        return None;
    }
    u32::try_from(spoor_model::civil_date::days_from_civil(year, month, day_of_month)).ok()
}

fn parse_keyspace_name(name: &str, prefix: &str) -> Option<Day> {
    parse_day(name.strip_prefix(prefix)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_format_as_utc_dates_and_parse_back() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(20_393), "2025-11-01");
        assert_eq!(format_day(11_016), "2000-02-29");
        for day in [0, 59, 60, 11_016, 20_393, 30_000] {
            assert_eq!(parse_day(&format_day(day)), Some(day));
        }
        assert_eq!(parse_day("2025-13-01"), None);
        assert_eq!(parse_keyspace_name("spans-2025-11-01", "spans-"), Some(20_393));
        assert_eq!(parse_keyspace_name("index-2025-11-01", "spans-"), None);
    }

    #[test]
    fn day_of_a_timestamp_is_its_utc_day() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_NANOS - 1), 0);
        assert_eq!(day_of(DAY_NANOS), 1);
    }
}
