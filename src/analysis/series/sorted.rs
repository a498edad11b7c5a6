//! Vectors of cells kept sorted: reordered by key, summed by bucket,
//! merged. The series hold their cells this way rather than in maps, so
//! that a chunk's part merges into the total in one pass.

/// `items` in the order of their ids, keeping the order of those with the
/// same id (a counting sort: ids are small and dense).
pub(super) fn by_id<T: Copy>(items: &[T], id: impl Fn(&T) -> u32) -> Vec<T> {
    let keys = items.iter().map(|e| id(e) as usize + 1).max().unwrap_or(0);
    // Where each id's run starts in the output.
    let mut next = vec![0usize; keys + 1];
    for e in items {
        next[id(e) as usize + 1] += 1;
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let mut out = items.to_vec();
    for e in items {
        let at = &mut next[id(e) as usize];
        out[*at] = *e;
        *at += 1;
    }
    out
}

/// Sorts `items` by bucket and id and sums those of one bucket and id into
/// the first of them.
pub(super) fn sum_by_bucket<T>(
    items: &mut Vec<T>,
    key: impl Fn(&T) -> (i64, u32),
    add: impl Fn(&mut T, &T),
) {
    items.sort_unstable_by_key(&key);
    items.dedup_by(|next, kept| {
        let same = key(next) == key(kept);
        if same {
            add(kept, next);
        }
        same
    });
}

/// Merges `b` into `a`, both sorted by `key` (each key once), adding the
/// entries of one key.
/// Only the part of `a` from `b`'s first key on is moved: the running
/// total of a scan takes chunks in time order, so merging one costs the
/// chunk, not the total (copying the whole total on every merge was a
/// sixth of a one-thread report).
pub(super) fn merge_sorted<T, K: Ord>(
    a: &mut Vec<T>,
    b: Vec<T>,
    key: impl Fn(&T) -> K,
    add: impl Fn(&mut T, &T),
) {
    let Some(first) = b.first() else { return };
    let start = a.partition_point(|x| key(x) < key(first));
    let tail = a.split_off(start);
    a.reserve(tail.len() + b.len());
    let mut b = b.into_iter().peekable();
    for mut x in tail {
        while let Some(y) = b.next_if(|y| key(y) < key(&x)) {
            a.push(y);
        }
        if let Some(y) = b.next_if(|y| key(y) == key(&x)) {
            add(&mut x, &y);
        }
        a.push(x);
    }
    a.extend(b);
}
