//! Every dimension's series, kept and merged together.

use super::{Dim, Series};

/// Every dimension's series together.
#[derive(Debug, Clone)]
pub struct SeriesSet {
    pub site: Series,
    pub upstreams: Series,
    pub paths: Series,
    pub hosts: Series,
    pub methods: Series,
    pub clients: Series,
    pub agents: Series,
}

impl SeriesSet {
    pub fn new() -> SeriesSet {
        SeriesSet {
            site: Series::new(Dim::Site),
            upstreams: Series::new(Dim::Upstream),
            paths: Series::new(Dim::Path),
            hosts: Series::new(Dim::Host),
            methods: Series::new(Dim::Method),
            clients: Series::new(Dim::Client),
            agents: Series::new(Dim::Agent),
        }
    }

    /// `maps` are the id maps of the key tables' merges, in the order of
    /// [`SeriesSet::all_mut`].
    pub fn merge(&mut self, other: SeriesSet, maps: &[Vec<Option<u32>>; 7]) {
        for ((mine, theirs), map) in self.all_mut().into_iter().zip(other.all()).zip(maps) {
            mine.merge(theirs, map);
        }
    }

    fn all(self) -> [Series; 7] {
        [
            self.site,
            self.upstreams,
            self.paths,
            self.hosts,
            self.methods,
            self.clients,
            self.agents,
        ]
    }

    /// How many cells each series grew to hold at once, in the order of
    /// [`SeriesSet::reserve`].
    pub fn capacities(&self) -> [usize; 7] {
        self.each().map(|s| s.cold.capacity())
    }

    /// Room for as many cells as [`SeriesSet::capacities`] gave.
    pub fn reserve(&mut self, cells: &[usize; 7]) {
        for (s, &n) in self.all_mut().into_iter().zip(cells) {
            s.cold.reserve(n);
        }
    }

    fn each(&self) -> [&Series; 7] {
        [
            &self.site,
            &self.upstreams,
            &self.paths,
            &self.hosts,
            &self.methods,
            &self.clients,
            &self.agents,
        ]
    }

    /// True when no series holds anything yet.
    pub fn hold_nothing(&self) -> bool {
        self.each().iter().all(|s| s.holds_nothing())
    }

    /// Site, upstreams, paths, hosts, methods, clients, agents.
    pub fn all_mut(&mut self) -> [&mut Series; 7] {
        [
            &mut self.site,
            &mut self.upstreams,
            &mut self.paths,
            &mut self.hosts,
            &mut self.methods,
            &mut self.clients,
            &mut self.agents,
        ]
    }

    /// The series of `dim`; the status has none of its own and reads the
    /// site's 5xx codes.
    pub fn get(&self, dim: Dim) -> &Series {
        match dim {
            Dim::Site | Dim::Status => &self.site,
            Dim::Upstream => &self.upstreams,
            Dim::Path => &self.paths,
            Dim::Host => &self.hosts,
            Dim::Method => &self.methods,
            Dim::Client => &self.clients,
            Dim::Agent => &self.agents,
        }
    }

    pub fn get_mut(&mut self, dim: Dim) -> &mut Series {
        match dim {
            Dim::Site | Dim::Status => &mut self.site,
            Dim::Upstream => &mut self.upstreams,
            Dim::Path => &mut self.paths,
            Dim::Host => &mut self.hosts,
            Dim::Method => &mut self.methods,
            Dim::Client => &mut self.clients,
            Dim::Agent => &mut self.agents,
        }
    }

    pub fn sealed(&self) -> SeriesSet {
        SeriesSet {
            site: self.site.sealed(),
            upstreams: self.upstreams.sealed(),
            paths: self.paths.sealed(),
            hosts: self.hosts.sealed(),
            methods: self.methods.sealed(),
            clients: self.clients.sealed(),
            agents: self.agents.sealed(),
        }
    }
}

impl Default for SeriesSet {
    fn default() -> SeriesSet {
        SeriesSet::new()
    }
}
