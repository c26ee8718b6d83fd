//! The HTTP endpoint (`--http`): the dashboard (`/`), the state as JSON (`/status`),
//! Prometheus metrics (`/metrics`), a liveness check (`/healthz`), and the admin API
//! under `/admin`, which requires `Authorization: Bearer <token>`:
//!
//! | request | effect |
//! |---|---|
//! | `POST /admin/hosts/{host}/drain` | running jobs finish, nothing new |
//! | `POST /admin/hosts/{host}/up` | back in service |
//! | `POST /admin/hosts/{host}/down` | out of service now, leases revoked |
//! | `DELETE /admin/hosts/{host}` | forgotten, leases revoked |
//! | `POST /admin/hosts` with `{"address": "h:3632", "slots": 4, "lzo": true}` | a stock distccd added |
//!
//! `{host}` is a host's name or its `ip:port`. Answers are JSON: `{"ok": "..."}` or
//! `{"error": "..."}` with a 4xx status that says which mistake it was.

use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::StaticHost;
use crate::event::{AdminError, AdminOp};
use crate::handle::Handle;
use crate::metrics::Metrics;

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    /// The way in to the actor.
    pub handle: Handle,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The admin token; `None` disables the admin API.
    pub admin_token: Arc<RwLock<Option<String>>>,
    /// The scheduler runs with `--insecure` (the dashboard says so).
    pub insecure: bool,
}

/// The routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/admin/hosts", post(add_host))
        .route("/admin/hosts/{host}", delete(remove_host))
        .route("/admin/hosts/{host}/{action}", post(host_action))
        .with_state(shared)
}

/// Serve until the process ends: HTTPS when `security` has credentials.
pub async fn serve(
    listener: TcpListener,
    shared: Shared,
    security: Arc<crate::secure::Security>,
) -> std::io::Result<()> {
    let listener = crate::https::Listener::new(listener, security)?;
    axum::serve(listener, router(shared)).await
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the scheduler is shutting down",
    )
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn status(State(shared): State<Shared>) -> Response {
    match shared.handle.snapshot().await {
        Some(s) => {
            let mut doc = serde_json::to_value(s).unwrap_or_default();
            // The distcc proxy's shared-cache look-ups, when it made any.
            let cache = shared.metrics.cache_counts();
            if !cache.is_empty()
                && let Some(fields) = doc.as_object_mut()
            {
                fields.insert("cache".into(), json!(cache));
            }
            Json(doc).into_response()
        }
        None => unavailable(),
    }
}

async fn metrics(State(shared): State<Shared>) -> Response {
    match shared.handle.snapshot().await {
        Some(s) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            shared.metrics.render(&s),
        )
            .into_response(),
        None => unavailable(),
    }
}

const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard(State(shared): State<Shared>) -> Html<String> {
    if !shared.insecure {
        return Html(DASHBOARD.to_owned());
    }
    // The operator chose to accept unauthenticated traffic from the network: whoever
    // looks at the farm should know.
    let banner = "<div style=\"background:#b00020;color:#fff;padding:.5em 1em;font-weight:bold\">\
        INSECURE: this scheduler was started with --insecure and trusts every client and \
        server on the network as it claims to be.</div>";
    Html(DASHBOARD.replacen("<body>", &format!("<body>{banner}"), 1))
}

/// Checks the bearer token; `Some` is the refusal to send.
fn refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let expected = shared
        .admin_token
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(expected) = expected else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "the admin API is disabled: set admin_token or admin_token_file in the scheduler's configuration",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "missing admin token (Authorization: Bearer <token>)",
        )),
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => None,
        Some(_) => Some(error(StatusCode::FORBIDDEN, "wrong admin token")),
    }
}

/// Compares without an early exit, so the time taken does not reveal how much of a
/// guessed token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn run(shared: &Shared, headers: &HeaderMap, op: AdminOp) -> Response {
    if let Some(refusal) = refusal(shared, headers) {
        return refusal;
    }
    match shared.handle.admin(op).await {
        Ok(done) => Json(json!({ "ok": done })).into_response(),
        Err(e @ AdminError::UnknownHost(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ AdminError::Refused(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(AdminError::Gone) => unavailable(),
    }
}

async fn host_action(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((host, action)): Path<(String, String)>,
) -> Response {
    let op = match action.as_str() {
        "drain" => AdminOp::Drain(host),
        "up" => AdminOp::Up(host),
        "down" => AdminOp::Down(host),
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown action {other:?}: drain, up or down"),
            );
        }
    };
    run(&shared, &headers, op).await
}

async fn remove_host(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(host): Path<String>,
) -> Response {
    run(&shared, &headers, AdminOp::Remove(host)).await
}

async fn add_host(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    // Authorise before parsing, so an unauthorised caller learns nothing from errors.
    if let Some(refusal) = refusal(&shared, &headers) {
        return refusal;
    }
    let host: StaticHost = match serde_json::from_str(&body) {
        Ok(host) => host,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"address\": \"host:port\", \"slots\": N}}: {e}"),
            );
        }
    };
    if host.slots == 0 {
        return error(StatusCode::BAD_REQUEST, "slots must be at least 1");
    }
    run(&shared, &headers, AdminOp::Add(host)).await
}
