//! Starting the service: bind the listeners, spawn the actor, the control port's accept
//! loop and the HTTP endpoint, and return the addresses actually bound (port 0 picks a
//! free one, which `ccfarm farm` and tests use).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ccfarm_sched::{Policy, Scheduler};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::actor;
use crate::config::FileConfig;
use crate::conn;
use crate::handle::Handle;
use crate::http;
use crate::metrics::Metrics;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
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
    /// The way in to the actor.
    pub handle: Handle,
    /// The admin API's token (replaced on reload).
    pub admin_token: Arc<RwLock<Option<String>>>,
}

impl Running {
    /// Replace the admin token (`None` disables the admin API).
    pub fn set_admin_token(&self, token: Option<String>) {
        *self.admin_token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }
}

/// Bind and spawn everything on the current tokio runtime.
pub async fn start(options: Options) -> Result<Running, StartError> {
    let config = options
        .file
        .sched_config(options.policy)
        .map_err(|e| StartError::Config(format!("{e:#}")))?;
    let probe_timeout = config.probe_timeout;
    let sched = Scheduler::with_placement(config, options.policy.build())
        .map_err(|e| StartError::Config(e.to_string()))?;
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let listener = bind(options.listen).await?;
    let listen = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let http_listener = match options.http {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let admin_token = Arc::new(RwLock::new(
        options
            .file
            .admin_token()
            .map_err(|e| StartError::Config(format!("{e:#}")))?,
    ));
    let metrics = Arc::new(Metrics::default());
    let settings = actor::Settings {
        probe_compiler: options
            .file
            .probe_compiler
            .clone()
            .unwrap_or_else(|| "gcc".into()),
        probe_timeout,
        file: options.file,
        metrics: metrics.clone(),
    };
    let handle = actor::spawn(sched, settings);
    info!(addr = %listen, policy = %options.policy, "ccfarm-scheduler listening");
    let mut http = None;
    if let Some(listener) = http_listener {
        http = listener.local_addr().ok();
        info!(addr = ?http, "dashboard, /status, /metrics and /admin on HTTP");
        let shared = http::Shared {
            handle: handle.clone(),
            metrics,
            admin_token: admin_token.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = http::serve(listener, shared).await {
                warn!("HTTP endpoint failed: {e}");
            }
        });
    }
    tokio::spawn(accept(listener, handle.clone()));
    Ok(Running {
        listen,
        http,
        handle,
        admin_token,
    })
}

async fn accept(listener: TcpListener, handle: Handle) {
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
        tokio::spawn(conn::serve(stream, peer, handle.clone()));
    }
}
