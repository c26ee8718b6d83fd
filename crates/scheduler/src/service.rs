//! Starting the service: bind the listeners, spawn the actor, the control port's accept
//! loop and the HTTP endpoint, and return the addresses actually bound (port 0 picks a
//! free one, which `ccfarm farm` and tests use).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ccfarm_cache::FarmStore;
use ccfarm_placement::{Policy, Scheduler};
use ccfarm_trust::allow::{AllowList, Cidr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::actor;
use crate::balance;
use crate::budget::Budget;
use crate::client_cache::ClientCache;
use crate::config::{DEFAULT_MAX_UNREAD_KIB, FileConfig};
use crate::conn;
use crate::handle::Handle;
use crate::http;
use crate::inherited::Inherited;
use crate::metrics::Metrics;
use crate::proxy;
use crate::secure::{self, Admitted, Security};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The balance daemon's ports are not `LEASE,STATUS,UPDATE`.
    #[error("configuration: {0}")]
    BalancePorts(#[source] BalancePortsError),
    /// A port would be reachable from the network unprotected.
    #[error(transparent)]
    Exposed(#[from] secure::ExposureError),
    /// The credentials are unusable.
    #[error("credentials: {0}")]
    Credentials(#[from] secure::SecurityError),
    /// A listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// The control port (clients and servers).
    pub listen: SocketAddr,
    /// The HTTP endpoint, if any.
    pub http: Option<SocketAddr>,
    /// The placement policy.
    pub policy: Policy,
    /// The configuration file's contents.
    pub file: FileConfig,
    /// The distcc proxy port: stock distcc clients send jobs here, the scheduler
    /// forwards each to the server it grants.
    pub distcc_proxy: Option<SocketAddr>,
    /// The seed's balance-daemon ports: lease, status and status-update.
    pub balance_ports: Option<BalancePorts>,
    /// The scheduler's credential directory; `None` for a plaintext scheduler.
    pub credentials: Option<std::path::PathBuf>,
    /// Accept plaintext from the network (and alongside TLS) anyway.
    pub insecure: bool,
    /// Who may use the distcc proxy port.
    pub distcc_proxy_allow: AllowList,
    /// Who may use the balance-daemon ports.
    pub balance_allow: AllowList,
}

/// Parse a list of `ADDR[/BITS]`; none means loopback only.
fn allow_list(what: &str, list: Option<&[String]>) -> Result<AllowList, StartError> {
    let networks = list
        .unwrap_or_default()
        .iter()
        .map(|s| s.parse::<Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Config(format!("{what}: {e}")))?;
    Ok(AllowList::new(networks))
}

/// The three ports of the 2004 balance daemon (distcc mailing list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancePorts {
    /// A client connects, reads one `host:port` line, and holds the connection for the job.
    pub lease: SocketAddr,
    /// Dumps the farm's state as text.
    pub status: SocketAddr,
    /// Takes `host:port up` / `host:port down` lines.
    pub update: SocketAddr,
}

/// Why a `LEASE,STATUS,UPDATE` list of the balance daemon's ports was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalancePortsError {
    /// Not three parts separated by commas.
    #[error("expected LEASE,STATUS,UPDATE (e.g. 5656,5657,5658)")]
    Shape,
    /// A part that is neither a port nor an `ADDR:PORT`.
    #[error("{0:?} is neither a port nor ADDR:PORT")]
    Port(String),
}

impl std::str::FromStr for BalancePorts {
    type Err = BalancePortsError;

    /// `LEASE,STATUS,UPDATE`, each a port (on 127.0.0.1) or an `ADDR:PORT`.
    fn from_str(s: &str) -> Result<BalancePorts, BalancePortsError> {
        let parse = |part: &str| -> Result<SocketAddr, BalancePortsError> {
            let part = part.trim();
            if let Ok(port) = part.parse::<u16>() {
                return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
            }
            part.parse()
                .map_err(|_| BalancePortsError::Port(part.to_owned()))
        };
        match s.split(',').collect::<Vec<_>>()[..] {
            [lease, status, update] => Ok(BalancePorts {
                lease: parse(lease)?,
                status: parse(status)?,
                update: parse(update)?,
            }),
            _ => Err(BalancePortsError::Shape),
        }
    }
}

impl Options {
    /// Options from a configuration file's contents, with its defaults.
    pub fn from_file(file: FileConfig) -> Result<Options, StartError> {
        let policy = match &file.policy {
            Some(name) => name
                .parse()
                .map_err(|e| StartError::Config(format!("policy {name:?}: {e}")))?,
            None => Policy::EarliestFinish,
        };
        Ok(Options {
            listen: file
                .listen
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7700))),
            http: file.http,
            policy,
            distcc_proxy: file.distcc_proxy,
            balance_ports: file
                .balance_ports
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(StartError::BalancePorts)?,
            credentials: file.credentials.clone(),
            insecure: file.insecure.unwrap_or(false),
            distcc_proxy_allow: allow_list(
                "distcc_proxy_allow",
                file.distcc_proxy_allow.as_deref(),
            )?,
            balance_allow: allow_list("balance_allow", file.balance_allow.as_deref())?,
            file,
        })
    }
}

/// A started service.
#[derive(Clone)]
pub struct Running {
    /// The control port's address.
    pub listen: SocketAddr,
    /// The HTTP endpoint's address.
    pub http: Option<SocketAddr>,
    /// The distcc proxy's address.
    pub distcc_proxy: Option<SocketAddr>,
    /// The way in to the actor.
    pub handle: Handle,
    /// The admin API's token (replaced on reload).
    pub admin_token: Arc<RwLock<Option<String>>>,
    /// The credentials (reloaded on SIGHUP).
    pub security: Arc<Security>,
    /// Cancelled when the service stops taking connections.
    stop: CancellationToken,
    /// The distcc proxy's connections under way.
    proxied: TaskTracker,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every lease came back and every proxied job was answered.
    Done,
    /// The time allowed ran out with this much under way.
    TimedOut {
        /// Leases still held.
        leases: usize,
        /// Proxied connections still open.
        proxied: usize,
    },
}

impl Running {
    /// Stop taking connections on every port and wait, up to `limit`, until the work
    /// under way is done: the leases held (clients compiling, proxied jobs) come back
    /// and every proxied connection has its answer. Requests already queued are still
    /// granted meanwhile, as servers stay registered until the process exits.
    ///
    /// Why: with the listening sockets held elsewhere (a socket unit, or the next
    /// process in an upgrade) new connections wait for the next process instead of
    /// being refused, and nothing this process started is cut off, so a restart or an
    /// upgrade costs no compile.
    pub async fn drain(&self, limit: Duration) -> Drained {
        self.stop.cancel();
        self.proxied.close();
        let deadline = Instant::now() + limit;
        loop {
            let leases = self.handle.snapshot().await.map_or(0, |s| s.leases);
            let proxied = self.proxied.len();
            if leases == 0 && proxied == 0 {
                return Drained::Done;
            }
            if Instant::now() >= deadline {
                return Drained::TimedOut { leases, proxied };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replace the admin token (`None` disables the admin API).
    pub fn set_admin_token(&self, token: Option<String>) {
        *self.admin_token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }
}

/// Bind and spawn everything on the current tokio runtime.
pub async fn start(options: Options) -> Result<Running, StartError> {
    start_with(options, Inherited::default()).await
}

/// The shared result cache at `url`, as the distcc proxy and the clients read it:
/// checking seals with the scheduler's credentials when it has them, and sealing the
/// manifests it keeps for clients.
fn shared_cache(
    url: &str,
    options: &Options,
    metrics: Arc<Metrics>,
) -> Result<(proxy::ProxyCache, ClientCache), StartError> {
    let config = |e: &dyn std::fmt::Display| StartError::Config(format!("cache: {e}"));
    let credentials = match &options.credentials {
        Some(dir) => Some(
            ccfarm_trust::Credentials::load_as(dir, ccfarm_trust::Role::Scheduler)
                .map_err(|e| config(&e))?,
        ),
        None => None,
    };
    if credentials.is_none() && !options.insecure {
        ccfarm_cache::shared::check_exposure(url).map_err(|e| StartError::Config(e.to_string()))?;
    }
    let deadline = std::time::Duration::from_millis(
        options
            .file
            .cache_deadline_ms
            .unwrap_or(ccfarm_cache::shared::DEFAULT_DEADLINE_MS),
    );
    let limit =
        ccfarm_cache::shared::entry_limit(ccfarm_proto::distcc::Limits::default().max_body_len);
    let store = ccfarm_cache::SharedStore::open(url, deadline, limit)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let entries = |store| FarmStore::new(store, credentials.as_ref(), false);
    let proxied = entries(store.clone()).map_err(|e| config(&e))?;
    let manifests = FarmStore::written_by(
        store.clone(),
        credentials.as_ref(),
        true,
        ccfarm_trust::Role::Scheduler,
    )
    .map_err(|e| config(&e))?;
    info!(
        store = proxied.describe(),
        checks_seals = proxied.checks_seals(),
        "answering from the shared result cache"
    );
    let clients = ClientCache::new(
        entries(store).map_err(|e| config(&e))?,
        manifests,
        metrics.clone(),
    );
    Ok((proxy::ProxyCache::new(proxied, Some(metrics)), clients))
}

/// A listener on `addr`: the inherited socket bound there, or a new one.
fn listen(inherited: &mut Inherited, addr: SocketAddr) -> Result<TcpListener, StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = match inherited.take(addr) {
        Some(listener) => listener,
        None => std::net::TcpListener::bind(addr).map_err(bind_error)?,
    };
    listener.set_nonblocking(true).map_err(bind_error)?;
    TcpListener::from_std(listener).map_err(bind_error)
}

/// [`start`], taking the listening sockets in `inherited` for the ports they are bound
/// to ([`crate::inherited`]).
pub async fn start_with(options: Options, mut inherited: Inherited) -> Result<Running, StartError> {
    let security = Arc::new(Security::new(
        options.credentials.as_deref(),
        options.insecure,
    )?);
    let mut own_ports = vec![("control port", options.listen)];
    own_ports.extend(options.http.map(|a| ("HTTP endpoint", a)));
    secure::check_exposure(&own_ports, security.secure(), options.insecure)?;
    if options.insecure {
        warn!(
            "--insecure: plaintext clients and servers are accepted from anywhere and trusted \
             as they claim to be; use this only on a network where everyone is trusted"
        );
    }
    let config = options
        .file
        .sched_config(options.policy)
        .map_err(|e| StartError::Config(format!("{e:#}")))?;
    let probe_timeout = config.probe_timeout;
    let guards = conn::Guards {
        ping: options
            .file
            .client_ping()
            .map_err(|e| StartError::Config(format!("{e:#}")))?,
        buffers: Budget::new(
            options
                .file
                .max_unread_kib
                .unwrap_or(DEFAULT_MAX_UNREAD_KIB)
                * 1024,
        ),
    };
    let heartbeat_timeout = config.heartbeat_timeout;
    // `new`, not `with_placement`: the built-in policies use the state machine's
    // incremental host index (config.policy is the chosen one).
    let sched = Scheduler::new(config).map_err(|e| StartError::Config(e.to_string()))?;
    let mut bind = |addr: SocketAddr| listen(&mut inherited, addr);
    let http_listener = match options.http {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let proxy_listener = match options.distcc_proxy {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let balance_listeners = match options.balance_ports {
        Some(ports) => Some((bind(ports.lease)?, bind(ports.status)?, bind(ports.update)?)),
        None => None,
    };
    // The control port last: a port that accepts tells launchers (and tests) that the
    // service is up, so every other port must be bound by then.
    let listener = bind(options.listen)?;
    let listen = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let admin_token = Arc::new(RwLock::new(
        options
            .file
            .admin_token()
            .map_err(|e| StartError::Config(format!("{e:#}")))?,
    ));
    let metrics = Arc::new(Metrics::default());
    let (proxy_cache, client_cache) = match &options.file.cache {
        Some(url) => {
            let (proxied, clients) = shared_cache(url, &options, metrics.clone())?;
            (Some(Arc::new(proxied)), Some(Arc::new(clients)))
        }
        None => (None, None),
    };
    let settings = actor::Settings {
        probe_compiler: options
            .file
            .probe_compiler
            .clone()
            .unwrap_or_else(|| "gcc".into()),
        probe_timeout,
        heartbeat_timeout,
        file: options.file,
        metrics: metrics.clone(),
    };
    let handle = actor::spawn(sched, settings);
    let stop = CancellationToken::new();
    let proxied = TaskTracker::new();
    info!(
        addr = %listen,
        policy = %options.policy,
        channels = if security.secure() {
            "TLS, every client and server authenticated"
        } else {
            "plaintext"
        },
        "ccfarm-scheduler listening"
    );
    let mut http = None;
    if let Some(listener) = http_listener {
        http = listener.local_addr().ok();
        info!(addr = ?http, "dashboard, /status, /metrics and /admin on HTTP");
        let shared = http::Shared {
            handle: handle.clone(),
            metrics: metrics.clone(),
            admin_token: admin_token.clone(),
            insecure: options.insecure,
        };
        let security = security.clone();
        until_stopped(&stop, async move {
            if let Err(e) = http::serve(listener, shared, security).await {
                warn!("HTTP endpoint failed: {e}");
            }
        });
    }
    let mut distcc_proxy = None;
    if let Some(listener) = proxy_listener {
        distcc_proxy = listener.local_addr().ok();
        info!(addr = ?distcc_proxy, "distcc proxy listening");
        until_stopped(
            &stop,
            proxy::serve(
                listener,
                handle.clone(),
                options.distcc_proxy_allow.clone(),
                metrics.clone(),
                proxied.clone(),
                proxy_cache.clone(),
            ),
        );
    }
    if let Some((lease, status, update)) = balance_listeners {
        info!(
            lease = ?lease.local_addr().ok(),
            status = ?status.local_addr().ok(),
            update = ?update.local_addr().ok(),
            "balance-daemon ports listening"
        );
        let gate = balance::Gate {
            allow: options.balance_allow.clone(),
            metrics: metrics.clone(),
        };
        until_stopped(
            &stop,
            balance::serve_lease(lease, handle.clone(), gate.clone()),
        );
        until_stopped(
            &stop,
            balance::serve_status(status, handle.clone(), gate.clone()),
        );
        until_stopped(&stop, balance::serve_update(update, handle.clone(), gate));
    }
    for addr in inherited.unused() {
        warn!(%addr, "an inherited socket matches no configured port; it is not served");
    }
    until_stopped(
        &stop,
        accept(
            listener,
            handle.clone(),
            security.clone(),
            metrics.clone(),
            guards,
            client_cache,
        ),
    );
    Ok(Running {
        listen,
        http,
        distcc_proxy,
        handle,
        admin_token,
        security,
        stop,
        proxied,
    })
}

/// Run `serve` (a port's accept loop) until `stop` is cancelled, which drops its
/// listener: the connections it started carry on as tasks of their own.
fn until_stopped(stop: &CancellationToken, serve: impl Future<Output = ()> + Send + 'static) {
    let stop = stop.clone();
    tokio::spawn(async move {
        stop.run_until_cancelled(serve).await;
    });
}

async fn accept(
    listener: TcpListener,
    handle: Handle,
    security: Arc<Security>,
    metrics: Arc<Metrics>,
    guards: conn::Guards,
    cache: Option<Arc<ClientCache>>,
) {
    let guards = Arc::new(guards);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        crate::keepalive::enable(&stream);
        let (handle, security, metrics) = (handle.clone(), security.clone(), metrics.clone());
        let (guards, cache) = (guards.clone(), cache.clone());
        tokio::spawn(async move {
            let cache = cache.as_deref();
            match secure::admit(stream, &security).await {
                Admitted::Tls(stream, identity) => {
                    debug!(%peer, %identity, "TLS connection");
                    conn::serve(
                        *stream,
                        peer,
                        conn::Peer::Verified(identity),
                        handle,
                        &guards,
                        cache,
                    )
                    .await;
                }
                Admitted::Plain(stream) => {
                    conn::serve(stream, peer, conn::Peer::Unverified, handle, &guards, cache).await;
                }
                Admitted::Refuse(mut stream, reason) => {
                    warn!(%peer, "refusing a plaintext connection: {reason}");
                    metrics.refusal("plaintext");
                    use tokio::io::AsyncWriteExt;
                    let refusal = ccfarm_proto::farm::FromScheduler::Refused { reason };
                    let _ = tokio::time::timeout(
                        secure::HANDSHAKE_TIMEOUT,
                        stream.write_all(&ccfarm_proto::farm::encode(&refusal)),
                    )
                    .await;
                }
                Admitted::Drop(why) => {
                    warn!(%peer, "connection closed: {why}");
                    metrics.refusal("handshake");
                }
            }
        });
    }
}
