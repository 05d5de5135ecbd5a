//! The TTL sweeper: sessions idle past their TTL are stopped and the files devflow owns for
//! them removed (a folder the user brought is never deleted); a SESSION_STATUS event with
//! reason `expired` says so.

use std::time::Duration;

use crate::service::Service;

/// Stops every session whose TTL ran out by `now_secs`. Returns how many.
pub async fn sweep_once(service: &Service, now_secs: i64) -> usize {
    let expired = match service.expired_sessions(now_secs).await {
        Ok(sessions) => sessions,
        Err(error) => {
            tracing::warn!(%error, "TTL sweep could not list sessions");
            return 0;
        }
    };
    let mut stopped = 0;
    for session in expired {
        // In a fleet the session's owner expires it (a session nobody runs is taken here).
        match service.route(&session.session_id).await {
            Ok(crate::service::Route::Here) => {}
            Ok(crate::service::Route::Elsewhere { .. }) => continue,
            Err(error) => {
                tracing::warn!(session_id = %session.session_id, %error, "TTL sweep could not tell who runs the session");
                continue;
            }
        }
        tracing::info!(session_id = %session.session_id, expires_at = session.expires_at, "session idle past its TTL");
        if service.expire(&session).await.is_ok() {
            stopped += 1;
            service.metrics().session_expired();
        }
    }
    stopped
}

/// Runs [`sweep_once`] every `interval` until the task is dropped.
pub fn spawn(service: Service, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep_once(&service, crate::now_millis() / 1000).await;
        }
    })
}
