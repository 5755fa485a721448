//! The scheduler: which entry is audited when. It starts entries in list order, at most
//! `--concurrency` at once and at most `--per-host` of one proxy host at once, hands each
//! result over as soon as it is ready, and stops cleanly on an interrupt. It knows nothing of
//! what auditing an entry involves: the checks ([`crate::checks`]) pass that in.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use tokio::task::JoinSet;

use crate::ingest::Entry;
use crate::model::ProbeResult;
use crate::proxy::ProxySpec;

/// How many entries run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Entries probed at once.
    pub concurrency: usize,
    /// Entries of one proxy host probed at once (0: no limit).
    pub per_host: usize,
}

/// A host's place in the schedule: entries in flight, and the ones waiting for a turn.
#[derive(Debug, Default)]
struct Lane {
    /// Entries of this host being probed.
    busy: usize,
    /// Entries of this host waiting, in list order.
    waiting: VecDeque<usize>,
}

/// Which entry starts next: list order, except that an entry whose host already has
/// `per_host` entries in flight waits for one of them to finish (without holding one of the
/// `--concurrency` places meanwhile).
struct Schedule<'a> {
    /// The entries.
    entries: &'a [Entry],
    /// Entries of one host at once (0: no limit).
    per_host: usize,
    /// The next entry in list order not yet started or queued.
    next: usize,
    /// Entries whose host made room for them, in the order they became ready.
    ready: VecDeque<usize>,
    /// Per host: in flight and waiting.
    lanes: HashMap<&'a str, Lane>,
}

impl<'a> Schedule<'a> {
    /// A schedule over `entries`.
    fn new(entries: &'a [Entry], per_host: usize) -> Self {
        Self {
            entries,
            per_host,
            next: 0,
            ready: VecDeque::new(),
            lanes: HashMap::new(),
        }
    }

    /// The host an entry counts against.
    fn host(&self, index: usize) -> &'a str {
        self.entries
            .get(index)
            .map_or("", |entry| entry.spec.host.as_str())
    }

    /// The next entry to start, if one may start now.
    fn take(&mut self) -> Option<usize> {
        if let Some(index) = self.ready.pop_front() {
            return Some(index);
        }
        while self.next < self.entries.len() {
            let index = self.next;
            self.next += 1;
            if self.per_host == 0 {
                return Some(index);
            }
            let lane = self.lanes.entry(self.host(index)).or_default();
            if lane.busy < self.per_host {
                lane.busy += 1;
                return Some(index);
            }
            lane.waiting.push_back(index);
        }
        None
    }

    /// Entry `index` finished: its host's next waiting entry (if any) becomes ready.
    fn finish(&mut self, index: usize) {
        if self.per_host == 0 {
            return;
        }
        let host = self.host(index);
        if let Some(lane) = self.lanes.get_mut(host) {
            match lane.waiting.pop_front() {
                Some(waiting) => self.ready.push_back(waiting),
                None => lane.busy = lane.busy.saturating_sub(1),
            }
            if lane.busy == 0 {
                self.lanes.remove(host);
            }
        }
    }
}

/// Runs `audit` for every entry, at most `concurrency` at once and at most `per_host` of one
/// host at once (0: no limit), calling `on_result(index, result)` as each one finishes (in
/// completion order). When `shutdown` completes, no new entry is started, entries in flight
/// are abandoned, and every entry without a result gets `not_audited`. Returns true when the
/// run was interrupted.
///
/// What auditing an entry means is the caller's (the checks, [`crate::checks`]): this
/// function only schedules.
pub(crate) async fn run_entries<A, Fut, S>(
    entries: &[Entry],
    limits: Limits,
    audit: A,
    shutdown: S,
    mut on_result: impl FnMut(usize, ProbeResult),
) -> bool
where
    A: Fn(ProxySpec) -> Fut,
    Fut: Future<Output = ProbeResult> + Send + 'static,
    S: Future<Output = ()>,
{
    let concurrency = limits.concurrency.max(1);
    let mut schedule = Schedule::new(entries, limits.per_host);
    let mut tasks: JoinSet<(usize, ProbeResult)> = JoinSet::new();
    let mut done = vec![false; entries.len()];
    let mut interrupted = false;
    tokio::pin!(shutdown);
    loop {
        while tasks.len() < concurrency {
            let Some(index) = schedule.take() else {
                break;
            };
            if let Some(entry) = entries.get(index) {
                let audited = audit(entry.spec.clone());
                tasks.spawn(async move { (index, audited.await) });
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                // A check that panicked is a bug, not a property of the proxy: its entry is
                // reported as not audited below rather than taking the run down. (Its host's
                // place is not given back; the rest of that host's entries end not audited.)
                if let Some(Ok((index, result))) = joined {
                    schedule.finish(index);
                    if let Some(slot) = done.get_mut(index) {
                        *slot = true;
                    }
                    on_result(index, result);
                }
            }
            () = &mut shutdown => {
                interrupted = true;
                tasks.abort_all();
                break;
            }
        }
    }
    let reason = if interrupted {
        "interrupted before this entry finished"
    } else {
        "the probe stopped unexpectedly"
    };
    for (index, finished) in done.iter().enumerate() {
        if !finished {
            on_result(index, ProbeResult::not_audited(reason));
        }
    }
    interrupted
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn entries(hosts: &[&str]) -> Vec<Entry> {
        let mut list = String::new();
        for (port, host) in hosts.iter().enumerate() {
            writeln!(list, "socks5://{host}:{}", port + 1).unwrap();
        }
        let mut collector = crate::ingest::Collector::new(crate::ingest::IngestOptions::default());
        collector
            .read_input("test", std::io::Cursor::new(list))
            .unwrap();
        collector.finish().entries
    }

    #[test]
    fn no_host_has_more_than_its_share_in_flight_and_list_order_holds() {
        let hosts = [
            "a.example",
            "a.example",
            "a.example",
            "b.example",
            "a.example",
        ];
        let entries = entries(&hosts);
        let mut schedule = Schedule::new(&entries, 2);
        // a, a start; the third a waits without blocking b; the last a waits too.
        assert_eq!(schedule.take(), Some(0));
        assert_eq!(schedule.take(), Some(1));
        assert_eq!(schedule.take(), Some(3));
        assert_eq!(schedule.take(), None);
        // b finishing frees nothing for a.
        schedule.finish(3);
        assert_eq!(schedule.take(), None);
        // Each a finishing lets the next waiting a start, in list order.
        schedule.finish(0);
        assert_eq!(schedule.take(), Some(2));
        assert_eq!(schedule.take(), None);
        schedule.finish(1);
        assert_eq!(schedule.take(), Some(4));
        schedule.finish(2);
        schedule.finish(4);
        assert_eq!(schedule.take(), None);
        assert!(schedule.lanes.is_empty(), "{:?}", schedule.lanes.keys());
    }

    #[test]
    fn without_a_per_host_limit_entries_start_in_list_order() {
        let entries = entries(&["a.example", "a.example", "a.example"]);
        let mut schedule = Schedule::new(&entries, 0);
        let started: Vec<usize> = std::iter::from_fn(|| schedule.take()).collect();
        assert_eq!(started, vec![0, 1, 2]);
    }
}
