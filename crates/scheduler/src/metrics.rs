//! Prometheus metrics. Events the snapshot cannot tell (how long grants waited, how long
//! jobs ran, probe outcomes) are counted as they happen; the farm's state (hosts, slots,
//! speeds, queues per user, totals) is copied from the state machine's snapshot at each
//! scrape, so the two can never disagree.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ccfarm_placement::{Health, JobEnd, Snapshot};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HostHealthLabels {
    host: String,
    health: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UserLabels {
    user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClientCacheLabels {
    item: String,
    result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusedLabels {
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RememberedLabels {
    by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    event: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    /// Requests received.
    pub requests: Counter,
    remembered: Family<RememberedLabels, Counter>,
    grant_wait: Histogram,
    job_duration: Family<ResultLabels, Histogram>,
    probes: Family<ResultLabels, Counter>,
    local: Family<ReasonLabels, Counter>,
    refused: Family<RefusedLabels, Counter>,
    cache_lookups: Family<ResultLabels, Counter>,
    cache_lookup_seconds: Histogram,
    client_cache: Family<ClientCacheLabels, Counter>,
    // Copied from the snapshot at each scrape (behind a lock so a scrape is consistent).
    state: Mutex<()>,
    host_slots: Family<HostLabels, Gauge>,
    host_capacity: Family<HostLabels, Gauge>,
    host_leases: Family<HostLabels, Gauge>,
    host_speed: Family<HostLabels, FloatGauge>,
    host_relative_speed: Family<HostLabels, FloatGauge>,
    host_load: Family<HostLabels, FloatGauge>,
    host_health: Family<HostHealthLabels, Gauge>,
    user_queued: Family<UserLabels, Gauge>,
    user_running: Family<UserLabels, Gauge>,
    user_granted: Family<UserLabels, Gauge>,
    queued: Gauge,
    leases: Gauge,
    free_slots: Gauge,
    totals: Family<EventLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("ccfarm_scheduler");
        let requests = Counter::default();
        registry.register("requests", "Slot requests received", requests.clone());
        let remembered = Family::<RememberedLabels, Counter>::default();
        registry.register(
            "requests_remembered",
            "Requests placed knowing the file's previous compile time, by who remembered it: client (on a server of this farm), client_elsewhere (a server this scheduler does not know; taken at speed 1), scheduler",
            remembered.clone(),
        );
        let grant_wait = Histogram::new(exponential_buckets(0.000_05, 2.0, 22));
        registry.register(
            "grant_wait_seconds",
            "Time from a request to its grant",
            grant_wait.clone(),
        );
        let job_duration = Family::<ResultLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "job_duration_seconds",
            "Lease hold time reported by clients, by result",
            job_duration.clone(),
        );
        let probes = Family::<ResultLabels, Counter>::default();
        registry.register("probes", "Health probes of distcc servers", probes.clone());
        let local = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "compile_locally",
            "Requests answered 'compile locally', by reason: waited_too_long, no_usable_host, queue_full, no_matching_compiler, too_many_requests",
            local.clone(),
        );
        let refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections and registrations refused, by reason: name_in_use (a second registration under a connected server's name), identity (a hello that does not match its certificate), plaintext (no TLS on a secure scheduler), handshake (a failed TLS handshake), address (outside a port's allow-list)",
            refused.clone(),
        );
        let cache_lookups = Family::<ResultLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "distcc proxy jobs looked up in the shared result cache, by result: hit, miss, not_cacheable, refused (an entry not served: altered, or not sealed by a server of this farm), unusable (the store did not answer in time)",
            cache_lookups.clone(),
        );
        let cache_lookup_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 15));
        registry.register(
            "cache_lookup_seconds",
            "Time to look a distcc proxy job up in the shared result cache",
            cache_lookup_seconds.clone(),
        );
        let client_cache = Family::<ClientCacheLabels, Counter>::default();
        registry.register(
            "client_cache_requests",
            "Clients' requests to the shared result cache, by item (manifest, entry, keep: a manifest sent to be kept) and result: hit, miss, refused (not served: altered, or not sealed by the farm), unusable (the store did not answer in time), too_large (an entry too large for the control connection), invalid (not a key or a manifest), stored, not_stored",
            client_cache.clone(),
        );
        let m = Metrics {
            cache_lookups,
            client_cache,
            cache_lookup_seconds,
            registry,
            refused,
            requests,
            remembered,
            grant_wait,
            job_duration,
            probes,
            local,
            state: Mutex::new(()),
            host_slots: Family::default(),
            host_capacity: Family::default(),
            host_leases: Family::default(),
            host_speed: Family::default(),
            host_relative_speed: Family::default(),
            host_load: Family::default(),
            host_health: Family::default(),
            user_queued: Family::default(),
            user_running: Family::default(),
            user_granted: Family::default(),
            queued: Gauge::default(),
            leases: Gauge::default(),
            free_slots: Gauge::default(),
            totals: Family::default(),
        };
        m.register_state()
    }
}

impl Metrics {
    fn register_state(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "host_slots",
            "Slots a host declares",
            self.host_slots.clone(),
        );
        r.register(
            "host_capacity",
            "Leases a host may hold now (health, foreign jobs, memory)",
            self.host_capacity.clone(),
        );
        r.register(
            "host_leases",
            "Leases a host holds",
            self.host_leases.clone(),
        );
        r.register(
            "host_speed",
            "Host speed placement uses: calibration compiles per second when calibrated, else learned work per second",
            self.host_speed.clone(),
        );
        r.register(
            "host_relative_speed",
            "Host speed over the fastest host's (1 = the fastest)",
            self.host_relative_speed.clone(),
        );
        r.register(
            "host_load_average",
            "Last reported one-minute load average",
            self.host_load.clone(),
        );
        r.register(
            "host_health",
            "1 for the host's current health state",
            self.host_health.clone(),
        );
        r.register(
            "user_queued",
            "Requests waiting, per user",
            self.user_queued.clone(),
        );
        r.register(
            "user_running",
            "Leases held, per user",
            self.user_running.clone(),
        );
        r.register(
            "user_granted",
            "Requests granted since start, per user",
            self.user_granted.clone(),
        );
        r.register("queued", "Requests waiting", self.queued.clone());
        r.register("leases", "Leases held", self.leases.clone());
        r.register("free_slots", "Free usable slots", self.free_slots.clone());
        r.register(
            "events",
            "State machine event totals since start (grants, waits, speculations, cancels, revocations, local, host_downs, ...)",
            self.totals.clone(),
        );
        self
    }

    /// A request came with its file's previous compile time, remembered `by` the client
    /// or by this scheduler (the label values are listed where the family is registered).
    pub fn remembered(&self, by: &'static str) {
        self.remembered
            .get_or_create(&RememberedLabels { by: by.into() })
            .inc();
    }

    /// A request was granted after waiting `waited`.
    pub fn granted(&self, waited: Duration) {
        self.grant_wait.observe(waited.as_secs_f64());
    }

    /// A lease came back.
    pub fn released(&self, result: JobEnd, held: Duration) {
        let result = match result {
            JobEnd::Ok => "ok",
            JobEnd::CompileError => "compile_error",
            JobEnd::Transport => "transport_failure",
        };
        self.job_duration
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .observe(held.as_secs_f64());
    }

    /// A probe finished.
    pub fn probe(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.probes
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    /// A registration under a connected server's name was refused.
    pub fn registration_refused(&self) {
        self.refusal("name_in_use");
    }

    /// A connection was refused for `reason` (see the metric's help).
    pub fn refusal(&self, reason: &'static str) {
        self.refused
            .get_or_create(&RefusedLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// A proxied job was looked up in the shared cache, with `result` (see the metric's
    /// help), taking `took` (none when it was not looked up).
    pub fn cache_lookup(&self, result: &'static str, took: Option<Duration>) {
        self.cache_lookups
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        if let Some(took) = took {
            self.cache_lookup_seconds.observe(took.as_secs_f64());
        }
    }

    /// A client's request to the shared cache for `item` ended with `result` (see the
    /// metric's help).
    pub fn client_cache(&self, item: &'static str, result: &'static str) {
        self.client_cache
            .get_or_create(&ClientCacheLabels {
                item: item.into(),
                result: result.into(),
            })
            .inc();
    }

    /// The distcc proxy's cache look-ups so far, by result (for `/status` and the
    /// dashboard); empty while none was made.
    pub fn cache_counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        ["hit", "miss", "not_cacheable", "refused", "unusable"]
            .into_iter()
            .filter_map(|result| {
                let labels = ResultLabels {
                    result: result.into(),
                };
                let n = self.cache_lookups.get(&labels).map(|c| c.get())?;
                Some((result, n))
            })
            .collect()
    }

    /// A request was told to compile locally, for `reason`.
    pub fn sent_local(&self, reason: &str) {
        self.local
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// The text exposition, with the farm's state taken from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let _consistent = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for family in [&self.host_slots, &self.host_capacity, &self.host_leases] {
            family.clear();
        }
        self.host_speed.clear();
        self.host_relative_speed.clear();
        self.host_load.clear();
        self.host_health.clear();
        for family in [&self.user_queued, &self.user_running, &self.user_granted] {
            family.clear();
        }
        for h in &snapshot.hosts {
            let host = HostLabels {
                host: h.name.clone(),
            };
            self.host_slots.get_or_create(&host).set(h.slots.into());
            self.host_capacity
                .get_or_create(&host)
                .set(h.capacity.into());
            self.host_leases.get_or_create(&host).set(h.leases.into());
            self.host_speed.get_or_create(&host).set(h.speed);
            self.host_relative_speed
                .get_or_create(&host)
                .set(h.relative_speed);
            if let Some(load) = h.load_avg {
                self.host_load.get_or_create(&host).set(load);
            }
            for health in [
                Health::Up,
                Health::Probation,
                Health::Down,
                Health::Draining,
            ] {
                self.host_health
                    .get_or_create(&HostHealthLabels {
                        host: h.name.clone(),
                        health: health_name(health).into(),
                    })
                    .set(i64::from(h.health == health));
            }
        }
        for u in &snapshot.users {
            let user = UserLabels {
                user: u.name.clone(),
            };
            self.user_queued.get_or_create(&user).set(u.queued as i64);
            self.user_running.get_or_create(&user).set(u.running.into());
            self.user_granted.get_or_create(&user).set(u.granted as i64);
        }
        self.queued.set(snapshot.queued as i64);
        self.leases.set(snapshot.leases as i64);
        self.free_slots.set(snapshot.free_slots.into());
        let c = &snapshot.counters;
        for (event, n) in [
            ("requests", c.requests),
            ("grants", c.grants),
            ("waits", c.waits),
            ("speculations", c.speculations),
            ("cancels", c.cancels),
            ("revocations", c.revocations),
            ("local", c.local),
            ("released_ok", c.released_ok),
            ("released_compile_error", c.released_compile_error),
            ("released_transport", c.released_transport),
            ("clients_gone", c.clients_gone),
            ("host_downs", c.host_downs),
        ] {
            self.totals
                .get_or_create(&EventLabels {
                    event: event.into(),
                })
                .set(n as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The name of a health state in metrics and on the dashboard.
pub fn health_name(health: Health) -> &'static str {
    match health {
        Health::Up => "up",
        Health::Probation => "probation",
        Health::Down => "down",
        Health::Draining => "draining",
    }
}

#[cfg(test)]
mod tests {
    use ccfarm_placement::{Config, HostSpec, Micros, Scheduler};

    use super::*;

    #[test]
    fn the_farm_state_appears_and_stale_hosts_disappear() {
        let m = Metrics::default();
        let mut s = Scheduler::new(Config::default()).unwrap();
        let spec = HostSpec {
            name: "fast1".into(),
            slots: 4,
            weight: 1.0,
        };
        let (id, _) = s.join(Micros::ZERO, spec).unwrap();
        m.granted(Duration::from_micros(300));
        m.remembered("client");
        let text = m.render(&s.snapshot());
        assert!(
            text.contains("ccfarm_scheduler_host_slots{host=\"fast1\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("ccfarm_scheduler_host_health{host=\"fast1\",health=\"up\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ccfarm_scheduler_grant_wait_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("ccfarm_scheduler_requests_remembered_total{by=\"client\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        s.remove(Micros::from_millis(1), id).unwrap();
        let text = m.render(&s.snapshot());
        assert!(!text.contains("host=\"fast1\""), "{text}");
    }
}
