//! The HTTP endpoint (`--http`): the dashboard (`/`), the state as JSON (`/status`),
//! Prometheus metrics (`/metrics`) and a liveness check (`/healthz`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use ccfarm_sched::Snapshot;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::actor::Event;
use crate::metrics::Metrics;

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    /// The actor's queue.
    pub events: mpsc::UnboundedSender<Event>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
}

/// The routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(shared)
}

/// Serve until the process ends.
pub async fn serve(listener: TcpListener, shared: Shared) -> std::io::Result<()> {
    axum::serve(listener, router(shared)).await
}

async fn snapshot(shared: &Shared) -> Result<Snapshot, Response> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler is shutting down\n",
        )
            .into_response()
    };
    shared
        .events
        .send(Event::Snapshot(tx))
        .map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

async fn status(State(shared): State<Shared>) -> Response {
    match snapshot(&shared).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e,
    }
}

async fn metrics(State(shared): State<Shared>) -> Response {
    match snapshot(&shared).await {
        Ok(s) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            shared.metrics.render(&s),
        )
            .into_response(),
        Err(e) => e,
    }
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}
