//! Jaeger's index names (spec §4.1): `<prefix->jaeger-span-YYYY-MM-DD` from the span's start time
//! in UTC, or the `-read`/`-write` aliases, and the read-index lists of a time range.

use super::config::{EsTarget, RolloverFrequency};
pub(crate) use spoor_model::civil_date::{civil_from_days, days_from_civil};

pub(crate) const SPAN_BASE: &str = "jaeger-span";
pub(crate) const SERVICE_BASE: &str = "jaeger-service";
pub(crate) const DEPENDENCIES_BASE: &str = "jaeger-dependencies";
/// Spoor's own index of documents Elasticsearch rejected permanently (see `writer.rs`).
pub(crate) const DEAD_LETTER_BASE: &str = "spoor-dead-letter";

const NANOS_PER_HOUR: u64 = 3_600 * 1_000_000_000;
const NANOS_PER_DAY: u64 = 24 * NANOS_PER_HOUR;

/// A read range longer than this many rollover periods is read through the `<base>-*` wildcard
/// instead of a list of names (a search over all time would otherwise name tens of thousands of
/// indices and overflow the request line).
pub(crate) const MAX_LISTED_READ_INDICES: usize = 400;

/// Jaeger's `IndexPrefix.Apply`: empty → nothing; otherwise the prefix and one `-` (none added
/// when the prefix already ends with `-`). The result is prepended to a base name.
pub fn prefix_join(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else if prefix.ends_with('-') {
        prefix.to_owned()
    } else {
        format!("{prefix}-")
    }
}

/// The index names of one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexNames {
    /// The joined prefix (`""` or ending in `-`).
    prefix: String,
    use_aliases: bool,
    date_separator: String,
    frequency: RolloverFrequency,
    remote_read_clusters: Vec<String>,
}

impl IndexNames {
    pub fn new(target: &EsTarget) -> Self {
        Self {
            prefix: prefix_join(&target.index_prefix),
            use_aliases: target.use_aliases,
            date_separator: target.index_date_separator.clone(),
            frequency: target.rollover_frequency,
            remote_read_clusters: target.remote_read_clusters.clone(),
        }
    }

    /// `<prefix-><base>`, e.g. the name of a template.
    pub(crate) fn base_name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    pub(crate) fn span_write_index(&self, start_time_unix_nano: u64) -> String {
        self.write_index(SPAN_BASE, start_time_unix_nano, self.frequency)
    }

    pub(crate) fn service_write_index(&self, start_time_unix_nano: u64) -> String {
        self.write_index(SERVICE_BASE, start_time_unix_nano, self.frequency)
    }

    pub(crate) fn span_read_indices(&self, start_unix_nano: u64, end_unix_nano: u64) -> Vec<String> {
        self.read_indices(SPAN_BASE, start_unix_nano, end_unix_nano, self.frequency)
    }

    pub(crate) fn service_read_indices(&self, start_unix_nano: u64, end_unix_nano: u64) -> Vec<String> {
        self.read_indices(SERVICE_BASE, start_unix_nano, end_unix_nano, self.frequency)
    }

    /// Dependencies are always daily (the spark-dependencies job writes one index a day).
    pub(crate) fn dependencies_write_index(&self, ts_unix_nano: u64) -> String {
        self.write_index(DEPENDENCIES_BASE, ts_unix_nano, RolloverFrequency::Day)
    }

    pub(crate) fn dependencies_read_indices(&self, start_unix_nano: u64, end_unix_nano: u64) -> Vec<String> {
        self.read_indices(DEPENDENCIES_BASE, start_unix_nano, end_unix_nano, RolloverFrequency::Day)
    }

    /// `<prefix->spoor-dead-letter`.
    pub(crate) fn dead_letter_index(&self) -> String {
        self.base_name(DEAD_LETTER_BASE)
    }

    /// The pattern of every index this target owns and the purger deletes: `<prefix->jaeger-*`.
    pub(crate) fn jaeger_wildcard(&self) -> String {
        format!("{}jaeger-*", self.prefix)
    }

    fn write_index(&self, base: &str, unix_nano: u64, frequency: RolloverFrequency) -> String {
        if self.use_aliases {
            format!("{}{base}-write", self.prefix)
        } else {
            format!("{}{base}-{}", self.prefix, self.date(unix_nano, frequency))
        }
    }

    /// Newest first, as Jaeger's `TimeRangeIndices`: every period from `end` back to `start`.
    fn read_indices(
        &self,
        base: &str,
        start_unix_nano: u64,
        end_unix_nano: u64,
        frequency: RolloverFrequency,
    ) -> Vec<String> {
        let local = if self.use_aliases {
            vec![format!("{}{base}-read", self.prefix)]
        } else {
            let period = match frequency {
                RolloverFrequency::Day => NANOS_PER_DAY,
                RolloverFrequency::Hour => NANOS_PER_HOUR,
            };
            let end = end_unix_nano.max(start_unix_nano);
            let periods = end / period - start_unix_nano / period + 1;
            if periods > MAX_LISTED_READ_INDICES as u64 {
                vec![format!("{}{base}-*", self.prefix)]
            } else {
                (0..periods)
                    .map(|back| format!("{}{base}-{}", self.prefix, self.date(end - back * period, frequency)))
                    .collect()
            }
        };
        let mut names = Vec::with_capacity(local.len() * (1 + self.remote_read_clusters.len()));
        for name in local {
            for cluster in &self.remote_read_clusters {
                names.push(format!("{cluster}:{name}"));
            }
            names.push(name);
        }
        names
    }

    fn date(&self, unix_nano: u64, frequency: RolloverFrequency) -> String {
        let day = unix_nano / NANOS_PER_DAY;
        let (year, month, day_of_month) = civil_from_days(day as i64);
        let separator = &self.date_separator;
        match frequency {
            RolloverFrequency::Day => format!("{year:04}{separator}{month:02}{separator}{day_of_month:02}"),
            RolloverFrequency::Hour => {
                let hour = (unix_nano % NANOS_PER_DAY) / NANOS_PER_HOUR;
                format!("{year:04}{separator}{month:02}{separator}{day_of_month:02}{separator}{hour:02}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-31T23:59:59Z.
    const MAY_31_LATE: u64 = 1_717_199_999 * 1_000_000_000;

    fn names(prefix: &str) -> IndexNames {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.index_prefix = prefix.into();
        IndexNames::new(&target)
    }

    #[test]
    fn prefix_is_joined_with_one_dash() {
        assert_eq!(prefix_join(""), "");
        assert_eq!(prefix_join("prod"), "prod-");
        assert_eq!(prefix_join("prod-"), "prod-");
        assert_eq!(names("").span_write_index(MAY_31_LATE), "jaeger-span-2024-05-31");
        assert_eq!(names("prod").span_write_index(MAY_31_LATE), "prod-jaeger-span-2024-05-31");
        assert_eq!(names("prod-").service_write_index(MAY_31_LATE), "prod-jaeger-service-2024-05-31");
    }

    #[test]
    fn write_index_is_the_utc_date_of_the_start_time() {
        let names = names("");
        assert_eq!(names.span_write_index(0), "jaeger-span-1970-01-01");
        assert_eq!(names.span_write_index(MAY_31_LATE + 1_000_000_000), "jaeger-span-2024-06-01");
        assert_eq!(names.dependencies_write_index(MAY_31_LATE), "jaeger-dependencies-2024-05-31");
    }

    #[test]
    fn aliases_replace_dates() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.index_prefix = "p".into();
        target.use_aliases = true;
        let names = IndexNames::new(&target);
        assert_eq!(names.span_write_index(MAY_31_LATE), "p-jaeger-span-write");
        assert_eq!(names.service_write_index(MAY_31_LATE), "p-jaeger-service-write");
        assert_eq!(names.span_read_indices(0, MAY_31_LATE), vec!["p-jaeger-span-read"]);
    }

    #[test]
    fn read_indices_walk_back_from_the_end_newest_first() {
        let day = NANOS_PER_DAY;
        let indices = names("x").span_read_indices(MAY_31_LATE - 2 * day, MAY_31_LATE);
        assert_eq!(indices, vec!["x-jaeger-span-2024-05-31", "x-jaeger-span-2024-05-30", "x-jaeger-span-2024-05-29"]);
        assert_eq!(names("").service_read_indices(MAY_31_LATE, MAY_31_LATE), vec!["jaeger-service-2024-05-31"]);
    }

    #[test]
    fn very_long_read_ranges_use_a_wildcard() {
        assert_eq!(names("x").span_read_indices(0, MAY_31_LATE), vec!["x-jaeger-span-*"]);
    }

    #[test]
    fn hourly_rollover_and_custom_separator() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.rollover_frequency = RolloverFrequency::Hour;
        target.index_date_separator = ".".into();
        let names = IndexNames::new(&target);
        assert_eq!(names.span_write_index(MAY_31_LATE), "jaeger-span-2024.05.31.23");
        assert_eq!(
            names.span_read_indices(MAY_31_LATE - NANOS_PER_HOUR, MAY_31_LATE),
            vec!["jaeger-span-2024.05.31.23", "jaeger-span-2024.05.31.22"]
        );
        // Dependencies stay daily.
        assert_eq!(names.dependencies_write_index(MAY_31_LATE), "jaeger-dependencies-2024.05.31");
    }

    #[test]
    fn remote_clusters_are_read_too() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.remote_read_clusters = vec!["east".into()];
        let names = IndexNames::new(&target);
        assert_eq!(
            names.span_read_indices(MAY_31_LATE, MAY_31_LATE),
            vec!["east:jaeger-span-2024-05-31", "jaeger-span-2024-05-31"]
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1_000_000, -1, 0, 1, 19_874, 2_932_896] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(civil_from_days(19_874), (2024, 5, 31));
    }
}
