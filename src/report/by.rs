//! `report --by host`: one report per host, each with its own timeline,
//! incidents and tables, for servers that carry many sites in one log.
//!
//! The inputs are read twice: once for the whole (which names the busiest
//! hosts, exactly), once into one aggregate per chosen host. Holding an
//! aggregate for every host seen in one pass would let a log of thousands
//! of virtual hosts take thousands of times the memory; capping them as
//! they arrive would split a host between its section and "the rest".

use serde::Serialize;

use super::{assemble, gather, Report, ReportOptions};
use crate::analysis::{host_key, Aggregate, Config, HashMap};
use crate::input::Source;
use crate::parse::Record;
use crate::scan::{self, ScanOptions, Sink};

/// Hosts given a section of their own, at most; the others are summed in
/// [`MoreHosts`].
pub const MAX_SECTIONS: usize = 20;

/// The whole run, and one report per host.
#[derive(Debug, Serialize)]
pub struct ByHost {
    pub schema: &'static str,
    pub by: &'static str,
    /// The report of every request, as without `--by`.
    pub overview: Report,
    /// The busiest hosts by requests (host names in lower case, as hosts
    /// compare), busiest first.
    pub sections: Vec<Section>,
    pub more: MoreHosts,
}

#[derive(Debug, Serialize)]
pub struct Section {
    pub host: String,
    pub report: Report,
}

/// What the sections leave out.
#[derive(Debug, Default, Serialize)]
pub struct MoreHosts {
    /// Hosts past the sections, and their requests and 5xx (with those
    /// of hosts past the key table's cap, which are not counted one by
    /// one).
    pub hosts: usize,
    pub requests: u64,
    pub errors_5xx: u64,
    /// Requests whose line carries no host (the format logs none, or `-`).
    pub without_host: u64,
}

/// The JSON schema of `--by` reports; each section's `report` is a
/// `logspike.report` object.
pub const SCHEMA: &str = "logspike.report-by/1";

/// Reads `sources` twice: the overview, then one report for each of the
/// `max_sections` busiest hosts.
pub fn build_by_host(
    sources: &[Source],
    scan: &mut ScanOptions,
    options: &ReportOptions,
    max_sections: usize,
) -> ByHost {
    let (total, checks) = gather(sources, scan, options);
    let overview = assemble(&total, &checks, options);
    // Every section in the overview's windows, so that hosts compare.
    let mut options = options.clone();
    let size = (overview.summary.window_seconds * 1e6).round() as i64;
    options.set_window(Some(size), options.zone.clone());
    let options = &options;

    let mut hosts: HashMap<String, (u64, u64)> = HashMap::default();
    for (key, counts) in total.hosts.iter() {
        // Keys are host names already (see `host_key`).
        let e = hosts.entry(key.to_string()).or_default();
        e.0 += counts.total();
        e.1 += counts.errors();
    }
    let mut hosts: Vec<(String, (u64, u64))> = hosts.into_iter().collect();
    hosts.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    let with_host: u64 = hosts.iter().map(|h| h.1 .0).sum::<u64>() + total.hosts.other.total();
    let mut more = MoreHosts {
        without_host: total.requests.saturating_sub(with_host),
        requests: total.hosts.other.total(),
        errors_5xx: total.hosts.other.errors(),
        // Hosts past the key table's cap are in the requests, not here.
        hosts: 0,
    };
    for (_, (requests, errors)) in hosts.iter().skip(max_sections) {
        more.hosts += 1;
        more.requests += requests;
        more.errors_5xx += errors;
    }
    hosts.truncate(max_sections);

    let index: HashMap<String, usize> = (hosts.iter().enumerate())
        .map(|(i, (h, _))| (h.clone(), i))
        .collect();
    let fresh = || -> Vec<Aggregate> {
        (0..hosts.len())
            .map(|_| Aggregate::new(&options.analysis))
            .collect()
    };
    let mut totals = fresh();
    // The second pass has no bar: the first one showed the reading.
    scan.progress = None;
    for (file, source) in sources.iter().enumerate() {
        let sink = PerHost {
            config: &options.analysis,
            index: &index,
            file: file as u32,
            totals: std::sync::Mutex::new(fresh()),
        };
        match scan::scan(source, scan, &sink) {
            Ok(_) => {}
            Err(never) => match never {},
        }
        let read = sink.totals.into_inner().unwrap_or_else(|e| e.into_inner());
        for (total, a) in totals.iter_mut().zip(read) {
            total.merge(a);
        }
    }
    let sections = hosts
        .into_iter()
        .zip(totals)
        .map(|((host, _), aggregate)| Section {
            host,
            report: assemble(&aggregate, &checks, options),
        })
        .collect();
    ByHost {
        schema: SCHEMA,
        by: "host",
        overview,
        sections,
        more,
    }
}

/// The second pass's sink for one input: one aggregate per chosen host,
/// the rest skipped (the overview counted them).
struct PerHost<'a> {
    config: &'a Config,
    /// Lower-case host name to its section.
    index: &'a HashMap<String, usize>,
    /// The input's index, for the places of errors.
    file: u32,
    totals: std::sync::Mutex<Vec<Aggregate>>,
}

/// A chunk's aggregates, made for the hosts it meets.
struct Parts {
    aggregates: Vec<Option<Aggregate>>,
    key: String,
}

impl Sink for PerHost<'_> {
    type Part = Parts;
    type Error = std::convert::Infallible;

    fn part(&self) -> Parts {
        Parts {
            aggregates: (0..self.index.len()).map(|_| None).collect(),
            key: String::new(),
        }
    }

    fn record(&self, part: &mut Parts, record: &Record<'_>, line: u64) {
        let Some(host) = record.host() else { return };
        host_key(&host.decode(), &mut part.key);
        let Some(&i) = self.index.get(&part.key) else {
            return;
        };
        part.aggregates[i]
            .get_or_insert_with(|| Aggregate::new(self.config))
            .add(record, self.file, line, self.config);
    }

    fn merge(&self, part: Parts) -> Result<(), Self::Error> {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        for (total, a) in totals.iter_mut().zip(part.aggregates) {
            if let Some(a) = a {
                total.merge(a);
            }
        }
        Ok(())
    }

    fn restart(&self) -> bool {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        for total in totals.iter_mut() {
            *total = Aggregate::new(self.config);
        }
        true
    }
}
