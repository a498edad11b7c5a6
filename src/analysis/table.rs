//! Status counts per key (upstream, path, host, method, agent), keyed by
//! bytes and bounded in size. [`super::Aggregate::add`] looks keys up for
//! every record, so the per-record methods are `#[inline]`.

use super::{HashMap, Statuses, MAX_CHILDREN};
use crate::text::lossy as text;

/// `path`, or `prefix/*` when its prefix already holds [`MAX_CHILDREN`]
/// other paths. A path seen before keeps its own row.
pub(super) fn capped<'k>(
    paths: &Table,
    children: &mut HashMap<Box<str>, u32>,
    path: &'k str,
) -> std::borrow::Cow<'k, str> {
    if paths.index.contains_key(path.as_bytes()) {
        return path.into();
    }
    let Some(cut) = path.rfind('/') else {
        return path.into();
    };
    let prefix = &path[..cut];
    let count = match children.get_mut(prefix) {
        Some(count) => count,
        None => children.entry(prefix.into()).or_insert(0),
    };
    if *count >= MAX_CHILDREN {
        format!("{prefix}/*").into()
    } else {
        *count += 1;
        path.into()
    }
}

/// A table's key, hashed and compared as bytes, so that a line's raw
/// bytes find it without a UTF-8 check: text is checked once per new key,
/// not once per line.
#[derive(Debug, Clone)]
pub(super) struct Key(std::sync::Arc<str>);

impl std::hash::Hash for Key {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for Key {}

impl std::borrow::Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Status counts per key, with a bounded number of keys. Each key has a
/// small id (its order of arrival in this partial), which the series of
/// the incident finder use instead of the key's text.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// One allocation per key, shared by the index and the list.
    pub(super) index: HashMap<Key, u32>,
    pub(super) keys: Vec<std::sync::Arc<str>>,
    pub(super) stats: Vec<Statuses>,
    /// Requests (or attempts) whose key arrived after the table was full.
    pub other: Statuses,
    pub(super) max_keys: usize,
    /// The id [`Table::intern_raw`] found last: lines repeat the previous
    /// line's method or host more often than not, and a comparison costs
    /// less than a hash.
    pub(super) last: Option<u32>,
}

impl Table {
    pub(super) fn new(max_keys: usize) -> Table {
        Table {
            max_keys,
            ..Table::default()
        }
    }

    /// Counts one status for `key`; its id, or `None` when the table was
    /// full and the count went to [`Table::other`].
    #[inline]
    pub(super) fn add(&mut self, key: &str, status: u16) -> Option<u32> {
        self.add_n(key, status, 1)
    }

    /// [`Table::add`] for `n` requests at once.
    #[inline]
    pub(super) fn add_n(&mut self, key: &str, status: u16, n: u64) -> Option<u32> {
        let id = self.intern(key);
        self.count(id, status, n)
    }

    /// [`Table::add`] for a key as the line has it: bytes that are read
    /// as text (invalid UTF-8 replaced) only when the table lacks them.
    #[inline]
    pub(super) fn add_raw(&mut self, raw: &[u8], status: u16) -> Option<u32> {
        let id = self.intern_raw(raw);
        self.count(id, status, 1)
    }

    /// [`Table::intern`] for a key as the line has it.
    #[inline]
    pub(super) fn intern_raw(&mut self, raw: &[u8]) -> Option<u32> {
        if let Some(id) = self.last {
            if self.keys[id as usize].as_bytes() == raw {
                return Some(id);
            }
        }
        let id = match self.index.get(raw) {
            Some(&id) => Some(id),
            None => match text(raw) {
                std::borrow::Cow::Borrowed(key) => self.insert(key),
                // Bytes that are not UTF-8 are filed under their text, which
                // another spelling may have brought in already.
                std::borrow::Cow::Owned(key) => self.intern(&key),
            },
        };
        self.last = id;
        id
    }

    /// Counts `status` for `key` when the table has it already.
    #[inline]
    pub(super) fn count_existing(&mut self, raw: &[u8], status: u16) -> Option<u32> {
        let &id = self.index.get(raw)?;
        self.stats[id as usize].add(status, 1);
        Some(id)
    }

    /// Counts `n` of `status` for an id, or under other for none.
    #[inline]
    pub(super) fn count(&mut self, id: Option<u32>, status: u16, n: u64) -> Option<u32> {
        match id {
            Some(id) => self.stats[id as usize].add(status, n),
            None => self.other.add(status, n),
        }
        id
    }

    /// Adds a key the table does not have, without a count (`None` when
    /// the table is full).
    pub(super) fn insert(&mut self, key: &str) -> Option<u32> {
        if self.keys.len() >= self.max_keys {
            return None;
        }
        let id = self.keys.len() as u32;
        let key: std::sync::Arc<str> = key.into();
        self.index.insert(Key(key.clone()), id);
        self.keys.push(key);
        self.stats.push(Statuses::default());
        Some(id)
    }

    /// The id of `key`, added without a count (`None` when the table is
    /// full).
    pub fn intern(&mut self, key: &str) -> Option<u32> {
        match self.index.get(key.as_bytes()) {
            Some(&id) => Some(id),
            None => self.insert(key),
        }
    }

    /// Adds another partial's counts; returns, for each of its ids, the
    /// id the key has here (`None`: the table was full, counted as other).
    pub(super) fn merge(&mut self, other: &Table) -> Vec<Option<u32>> {
        let map = other
            .keys
            .iter()
            .zip(&other.stats)
            .map(|(k, v)| self.add_counts(k, v))
            .collect();
        self.other.merge(&other.other);
        map
    }

    /// Adds another partial's counts of one key.
    pub(super) fn add_counts(
        &mut self,
        key: &std::sync::Arc<str>,
        counts: &Statuses,
    ) -> Option<u32> {
        match self.index.get(key.as_bytes()) {
            Some(&id) => {
                self.stats[id as usize].merge(counts);
                Some(id)
            }
            // The cap holds across merges too, so that many workers
            // cannot add up to many times the keys.
            None if self.keys.len() >= self.max_keys => {
                self.other.merge(counts);
                None
            }
            None => {
                let id = self.keys.len() as u32;
                self.index.insert(Key(key.clone()), id);
                self.keys.push(key.clone());
                self.stats.push(counts.clone());
                Some(id)
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Statuses> {
        self.index
            .get(key.as_bytes())
            .map(|&id| &self.stats[id as usize])
    }

    /// The key of an id.
    pub fn key(&self, id: u32) -> &str {
        &self.keys[id as usize]
    }

    /// Every key, by id.
    pub fn keys(&self) -> &[std::sync::Arc<str>] {
        &self.keys
    }

    /// Keys and their counts, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Statuses)> {
        self.keys.iter().map(|k| k.as_ref()).zip(&self.stats)
    }

    /// Keys by 5xx count, then by total, then by name; at most `n`.
    pub fn top(&self, n: usize) -> Vec<(&str, &Statuses)> {
        let mut rows: Vec<_> = self
            .iter()
            .map(|(k, v)| (std::cmp::Reverse((v.errors(), v.total())), k, v))
            .collect();
        type Row<'t> = (std::cmp::Reverse<(u64, u64)>, &'t str, &'t Statuses);
        fn order(a: &Row, b: &Row) -> std::cmp::Ordering {
            (a.0, a.1).cmp(&(b.0, b.1))
        }
        if rows.len() > n && n > 0 {
            rows.select_nth_unstable_by(n - 1, order);
        }
        rows.truncate(n);
        rows.sort_unstable_by(order);
        rows.into_iter().map(|(_, k, v)| (k, v)).collect()
    }

    /// Keys, requests and 5xx of everything [`Table::top`] leaves out.
    pub fn rest(&self, n: usize) -> (u64, u64, u64) {
        let shown: std::collections::HashSet<&str> =
            self.top(n).into_iter().map(|(k, _)| k).collect();
        let mut out = (0, self.other.total(), self.other.errors());
        for (k, v) in self.iter() {
            if !shown.contains(k) {
                out.0 += 1;
                out.1 += v.total();
                out.2 += v.errors();
            }
        }
        out
    }
}
