//! Client networks, the key of the client dimension.
//!
//! A busy public site sees about as many client networks as lines, so this
//! key is made once per line and is new to its partial most of the time.
//! As text it cost an allocation per network per partial and a string hash
//! at every merge; as a number it costs neither, and the text is written
//! only when a name is read (once per key, for the report).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use super::{text, HashMap};

/// The network of a client address: its /24 for IPv4, its /64 for IPv6
/// (one host's neighbours, one customer's prefix), and the text itself for
/// a host name. A bot or a scraper rarely keeps to one address, but keeps
/// to its network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Network {
    /// The first three octets.
    V4(u32),
    /// The first four segments.
    V6(u64),
    Name(Arc<str>),
}

/// Longest client key kept as text, in bytes.
pub const MAX_NAME: usize = super::MAX_KEY_TEXT;

impl Network {
    #[inline]
    pub fn of(raw: &[u8]) -> Network {
        if let Some(net) = ipv4_prefix(raw) {
            return Network::V4(net);
        }
        if raw.contains(&b':') {
            if let Some(IpAddr::V6(a)) = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                return Network::V6(v6_prefix(a));
            }
        }
        Network::Name(text(&raw[..raw.len().min(MAX_NAME)]).into())
    }

    /// The key as read back from its name (a saved state).
    pub fn from_name(name: &str) -> Network {
        if let Some(net) = name.strip_suffix(".0/24").and_then(|n| {
            let n = format!("{n}.0");
            ipv4_prefix(n.as_bytes())
        }) {
            return Network::V4(net);
        }
        if let Some(Ok(a)) = name.strip_suffix("/64").map(str::parse::<Ipv6Addr>) {
            if a.segments()[4..].iter().all(|&x| x == 0) {
                return Network::V6(v6_prefix(a));
            }
        }
        Network::Name(name.into())
    }

    pub fn name(&self) -> Arc<str> {
        match self {
            Network::V4(n) => format!("{}.{}.{}.0/24", n >> 16, (n >> 8) & 0xff, n & 0xff).into(),
            Network::V6(p) => {
                let prefix = Ipv6Addr::new(
                    (p >> 48) as u16,
                    (p >> 32) as u16,
                    (p >> 16) as u16,
                    *p as u16,
                    0,
                    0,
                    0,
                    0,
                );
                format!("{prefix}/64").into()
            }
            Network::Name(s) => s.clone(),
        }
    }
}

fn v6_prefix(a: Ipv6Addr) -> u64 {
    (u128::from(a) >> 64) as u64
}

/// The first three octets of a dotted-quad IPv4 address, as the standard
/// library reads one (no leading zeros, each octet at most 255), by hand:
/// its general parser cost a tenth of the client key
/// (`the_hand_parser_agrees_with_the_standard_library`).
#[inline]
fn ipv4_prefix(raw: &[u8]) -> Option<u32> {
    if !(7..=15).contains(&raw.len()) {
        return None;
    }
    // One pass: the octets before the current one, the current one, its
    // digits and its first digit.
    let (mut prefix, mut octet, mut digits, mut first) = (0u32, 0u32, 0u32, 0u32);
    let mut dots = 0;
    for &b in raw {
        if b == b'.' {
            if digits == 0 || dots == 3 {
                return None;
            }
            prefix = (prefix << 8) | octet;
            (octet, digits, dots) = (0, 0, dots + 1);
            continue;
        }
        let d = u32::from(b.wrapping_sub(b'0'));
        // Not a digit, a digit after a leading zero, or a fourth digit.
        if d > 9 || (digits == 1 && first == 0) || digits == 3 {
            return None;
        }
        if digits == 0 {
            first = d;
        }
        octet = octet * 10 + d;
        digits += 1;
        if octet > 255 {
            return None;
        }
    }
    (dots == 3 && digits > 0).then_some(prefix)
}

/// Client networks by id, in order of arrival, at most `max_keys`.
#[derive(Debug, Clone, Default)]
pub struct Networks {
    index: HashMap<Network, u32>,
    keys: Vec<Network>,
    max_keys: usize,
}

impl Networks {
    pub fn new(max_keys: usize) -> Networks {
        Networks {
            max_keys,
            ..Networks::default()
        }
    }

    /// The id of `key` (`None` when the table is full).
    #[inline]
    pub fn intern(&mut self, key: Network) -> Option<u32> {
        use std::collections::hash_map::Entry;
        // One hash whether the key is new or not: most are new.
        let id = self.keys.len() as u32;
        match self.index.entry(key) {
            Entry::Occupied(e) => Some(*e.get()),
            Entry::Vacant(_) if id as usize >= self.max_keys => None,
            Entry::Vacant(e) => {
                self.keys.push(e.key().clone());
                e.insert(id);
                Some(id)
            }
        }
    }

    /// Takes in another partial's keys; for each of its ids, the id the
    /// key has here (`None`: beyond the cap).
    pub fn merge(&mut self, other: &Networks) -> Vec<Option<u32>> {
        // Never room past the cap: a full table only looks keys up.
        self.index.reserve(
            other
                .keys
                .len()
                .min(self.max_keys.saturating_sub(self.keys.len())),
        );
        other.keys.iter().map(|k| self.intern(k.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Room for `n` more keys.
    pub fn reserve(&mut self, n: usize) {
        self.index.reserve(n);
        self.keys.reserve(n);
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key's name, by id.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.keys.iter().map(Network::name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_networks_are_their_prefixes() {
        for (addr, net) in [
            ("10.0.7.9", "10.0.7.0/24"),
            ("203.0.113.255", "203.0.113.0/24"),
            ("1.22.133.4", "1.22.133.0/24"),
            ("0.0.0.0", "0.0.0.0/24"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("::ffff:1.2.3.4", "::/64"),
            ("proxy.example.com", "proxy.example.com"),
            // What the standard library refuses is a name, not a network.
            ("010.0.0.1", "010.0.0.1"),
            ("256.1.1.1", "256.1.1.1"),
            ("1.2.3", "1.2.3"),
            ("1.2.3.4.5", "1.2.3.4.5"),
            ("1.2.3.", "1.2.3."),
            ("", ""),
        ] {
            let key = Network::of(addr.as_bytes());
            assert_eq!(&*key.name(), net, "{addr}");
            assert_eq!(Network::from_name(net), key, "{addr} back from {net}");
            let std = addr.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(matches!(key, Network::V4(_)), std, "{addr}");
        }
    }

    #[test]
    fn the_hand_parser_agrees_with_the_standard_library() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let pieces = [
            "0", "1", "9", "25", "99", "255", "256", "01", "300", "", "1a", "1.", "-1",
        ];
        let mut valid = 0;
        for _ in 0..50_000 {
            let mut next = || crate::testing::xorshift(&mut state);
            let octets = 3 + (next() % 3) as usize;
            let text = (0..octets)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(".");
            let std = text.parse::<std::net::Ipv4Addr>().ok().map(|a| {
                let [x, y, z, _] = a.octets();
                (u32::from(x) << 16) | (u32::from(y) << 8) | u32::from(z)
            });
            assert_eq!(ipv4_prefix(text.as_bytes()), std, "{text}");
            valid += usize::from(std.is_some());
        }
        assert!(valid > 500, "only {valid} addresses: the test sees too few");
        assert_eq!(ipv4_prefix(b"255.255.255.255"), Some(0xff_ffff));
        assert_eq!(
            ipv4_prefix(b"10.20.30.40"),
            Some((10 << 16) | (20 << 8) | 30)
        );
    }

    #[test]
    fn merged_ids_follow_arrival_and_the_cap() {
        let mut a = Networks::new(2);
        let mut b = Networks::new(2);
        assert_eq!(a.intern(Network::of(b"1.1.1.1")), Some(0));
        assert_eq!(b.intern(Network::of(b"2.2.2.2")), Some(0));
        assert_eq!(b.intern(Network::of(b"1.1.1.9")), Some(1));
        assert_eq!(a.merge(&b), [Some(1), Some(0)]);
        assert_eq!(a.intern(Network::of(b"3.3.3.3")), None);
        assert_eq!(&*a.names()[1], "2.2.2.0/24");
    }
}
